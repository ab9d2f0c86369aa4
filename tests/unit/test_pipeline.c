/*
 * Unit tests of the parts of a deployment's pipeline that read outside
 * input without the database (src/deploy/pipeline.c): the configuration
 * body, good and malformed, and a review turned into dataset shapes.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "deploy/pipeline.h"
#include "deploy/score.h"

static int parse(const char *text, deploy_pipeline_body *b, err *e)
{
    json_t *j = json_loads(text, 0, NULL);
    cr_assert_not_null(j, "%s", text);
    int rc = deploy_pipeline_parse(j, b, e);
    json_decref(j);
    return rc;
}

Test(pipeline_unit, body_good_and_defaults)
{
    deploy_pipeline_body b;
    err e;
    json_t *j = json_loads("{\"datasets\":{\"train\":3,\"test\":4},\"reviews_to_train\":7,"
                           "\"policy\":\"champion\",\"metric\":\"macro_f1\",\"margin\":0.02,"
                           "\"params\":{\"epochs\":2}}",
                           0, NULL);
    cr_assert_eq(deploy_pipeline_parse(j, &b, &e), 0, "%s", e.msg);
    cr_assert_str_eq(b.policy, "champion");
    cr_assert_str_eq(b.metric, "macro_f1");
    cr_assert_eq(b.reviews, 7);
    cr_assert_float_eq(b.margin, 0.02, 1e-12);
    json_decref(j);
    j = json_loads("{\"datasets\":{\"train\":3}}", 0, NULL);
    cr_assert_eq(deploy_pipeline_parse(j, &b, &e), 0, "%s", e.msg);
    cr_assert_str_eq(b.policy, "manual");
    cr_assert_str_eq(b.metric, "accuracy");
    cr_assert_eq(b.reviews, 0);
    json_decref(j);
}

Test(pipeline_unit, body_malformed)
{
    static const struct {
        const char *body, *why;
    } bad[] = {
        {"[]", "object"},
        {"{}", "datasets"},
        {"{\"datasets\":[1]}", "datasets"},
        {"{\"datasets\":{\"test\":1}}", "train"},
        {"{\"datasets\":{\"train\":\"3\"}}", "train"},
        {"{\"datasets\":{\"train\":3,\"test\":0}}", "datasets.test"},
        {"{\"datasets\":{\"train\":3},\"policy\":\"yolo\"}", "policy"},
        {"{\"datasets\":{\"train\":3},\"policy\":7}", "policy"},
        {"{\"datasets\":{\"train\":3},\"metric\":\"loss\"}", "metric"},
        {"{\"datasets\":{\"train\":3},\"margin\":2}", "margin"},
        {"{\"datasets\":{\"train\":3},\"reviews_to_train\":-1}", "reviews_to_train"},
        {"{\"datasets\":{\"train\":3},\"feedback_tags\":\"train\"}", "feedback_tags"},
        {"{\"datasets\":{\"train\":3},\"feedback_tags\":[3]}", "feedback_tags[0]"},
        {"{\"datasets\":{\"train\":3},\"params\":{\"epochs\":\"many\"}}", "params: "},
        {"{\"datasets\":{\"train\":3},\"params\":{\"colour\":1}}", "params: "},
        {"{\"datasets\":{\"train\":3},\"extra\":1}", "extra"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        deploy_pipeline_body b;
        err e;
        cr_assert_neq(parse(bad[i].body, &b, &e), 0, "%s was accepted", bad[i].body);
        cr_assert_eq(e.code, ERR_INVALID, "%s: %d", bad[i].body, e.code);
        cr_assert(strstr(e.msg, bad[i].why), "%s: %s", bad[i].body, e.msg);
    }
}

Test(pipeline_unit, review_shapes)
{
    json_t *labels = json_object();
    json_t *s = deploy_pipeline_review_shapes(
        "{\"classes\":[{\"label\":\"cat\",\"score\":0.3},{\"label\":\"dog\",\"score\":0.6}],"
        "\"boxes\":[{\"x\":1,\"y\":2,\"w\":3,\"h\":4,\"label\":\"fox\",\"score\":0.9}]}",
        labels);
    cr_assert_eq(json_array_size(s), 2);
    json_t *c = json_array_get(s, 0), *b = json_array_get(s, 1);
    cr_assert_str_eq(json_string_value(json_object_get(c, "kind")), "class");
    cr_assert_str_eq(json_string_value(json_object_get(c, "label")), "dog", "the top class only");
    cr_assert_str_eq(json_string_value(json_object_get(b, "kind")), "box");
    cr_assert_eq(json_integer_value(json_array_get(json_object_get(b, "box"), 3)), 4);
    cr_assert_eq(json_object_size(labels), 2);
    cr_assert_not_null(json_object_get(labels, "fox"));
    json_decref(s);
    /* no score counts as 1; nothing usable gives no shapes */
    s = deploy_pipeline_review_shapes("{\"classes\":[{\"label\":\"a\",\"score\":0.9},{\"label\":\"b\"}]}",
                                      labels);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(s, 0), "label")), "b");
    json_decref(s);
    const char *empty[] = {"{}", "not json", "", "{\"classes\":[{\"score\":1}],\"boxes\":[{\"x\":1}]}",
                           "{\"classes\":{},\"boxes\":7}", NULL};
    for (int i = 0; i < 5; i++) {
        s = deploy_pipeline_review_shapes(empty[i], labels);
        cr_assert_eq(json_array_size(s), 0, "%s", empty[i]);
        json_decref(s);
    }
    s = deploy_pipeline_review_shapes(NULL, labels);
    cr_assert_eq(json_array_size(s), 0);
    json_decref(s);
    json_decref(labels);
}

Test(pipeline_unit, scores_by_hand)
{
    /* truth -> prediction: a a, a b, b b, b b, c a
     * a: tp 1, fn 1, fp 1 -> p 1/2, r 1/2, f1 1/2
     * b: tp 2, fp 1       -> p 2/3, r 1,   f1 4/5
     * c: fn 1             -> p 0,   r 0,   f1 0 */
    deploy_score s = {0};
    const char *pairs[5][2] = {{"a", "a"}, {"a", "b"}, {"b", "b"}, {"b", "b"}, {"c", "a"}};
    for (int i = 0; i < 5; i++)
        deploy_score_add(&s, pairs[i][0], pairs[i][1]);
    cr_assert_float_eq(deploy_score_value(&s, "accuracy"), 0.6, 1e-12);
    cr_assert_float_eq(deploy_score_value(&s, "macro_f1"), (0.5 + 0.8 + 0) / 3, 1e-12);
    cr_assert_float_eq(deploy_score_value(&s, "macro_precision"), (0.5 + 2.0 / 3 + 0) / 3, 1e-12);
    cr_assert_float_eq(deploy_score_value(&s, "macro_recall"), (0.5 + 1 + 0) / 3, 1e-12);
    deploy_score_free(&s);
    cr_assert(isnan(deploy_score_value(&s, "accuracy")), "empty: no value");
}
