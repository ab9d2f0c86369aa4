/*
 * Unit tests for evaluation_coco_items (src/cli/evaluation_coco.c): a COCO
 * results array turned into the prediction items `cvops evaluation
 * predictions --coco` uploads. Well-formed files group by image in
 * first-seen order; every malformed shape gets a message naming the result
 * and what it lacks.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "cli/evaluation_coco.h"

static json_t *items_of(const char *text, char *why, size_t wn)
{
    json_error_t je;
    json_t *doc = json_loads(text, 0, &je);
    cr_assert_not_null(doc, "test input does not parse: %s", je.text);
    why[0] = 0;
    json_t *items = evaluation_coco_items(doc, why, wn);
    json_decref(doc);
    return items;
}

static const char *kind_of(json_t *items, size_t item, size_t shape)
{
    json_t *s = json_array_get(json_object_get(json_array_get(items, item), "shapes"), shape);
    return json_string_value(json_object_get(s, "kind"));
}

Test(evaluation_coco, groups_by_image_in_first_seen_order)
{
    /* images 7, 3, 7, 3, 9: two items for 7 and 3 (7 first, as it came
     * first), one for 9; the order of shapes inside an image is the file's
     * (COCO breaks score ties by it) */
    char why[200];
    json_t *items = items_of(
        "[{\"image_id\":7,\"category_id\":1,\"bbox\":[1,2,3,4],\"score\":0.9},"
        " {\"image_id\":3,\"category_id\":2,\"segmentation\":[[0,0,4,0,4,4]],\"score\":0.8},"
        " {\"image_id\":7,\"category_id\":2,\"segmentation\":{\"size\":[4,4],\"counts\":\"04\"},"
        "  \"score\":0.7},"
        " {\"image_id\":3,\"category_id\":1,\"keypoints\":[1,1,2],\"score\":0.6},"
        " {\"image_id\":9,\"category_id\":1,\"bbox\":[0,0,1,1],\"score\":0}]",
        why, sizeof why);
    cr_assert_not_null(items, "%s", why);
    cr_assert_eq(json_array_size(items), 3);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(items, 0), "asset_id")), 7);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(items, 1), "asset_id")), 3);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(items, 2), "asset_id")), 9);
    cr_assert_str_eq(kind_of(items, 0, 0), "box");
    cr_assert_str_eq(kind_of(items, 0, 1), "mask");
    cr_assert_str_eq(kind_of(items, 1, 0), "polygon");
    cr_assert_str_eq(kind_of(items, 1, 1), "keypoints");
    cr_assert_str_eq(kind_of(items, 2, 0), "box");
    /* the geometry and ids pass through unchanged: category_id -> label_id */
    json_t *s = json_array_get(json_object_get(json_array_get(items, 0), "shapes"), 0);
    json_t *want = json_loads("{\"kind\":\"box\",\"label_id\":1,\"score\":0.9,\"box\":[1,2,3,4]}",
                              0, NULL);
    cr_assert(json_equal(s, want), "%s", json_dumps(s, JSON_COMPACT));
    json_decref(want);
    s = json_array_get(json_object_get(json_array_get(items, 1), "shapes"), 0);
    want = json_loads("[[0,0,4,0,4,4]]", 0, NULL);
    cr_assert(json_equal(json_object_get(s, "rings"), want));
    json_decref(want);
    json_decref(items);
}

Test(evaluation_coco, segmentation_wins_over_bbox_and_keypoints_over_both)
{
    /* a segm result usually carries its bbox too: the segmentation is what
     * the result is; a keypoint result may carry a bbox: keypoints */
    char why[200];
    json_t *items = items_of(
        "[{\"image_id\":1,\"category_id\":1,\"bbox\":[0,0,2,2],\"segmentation\":[[0,0,2,0,2,2]],"
        "  \"score\":0.5},"
        " {\"image_id\":1,\"category_id\":1,\"bbox\":[0,0,2,2],\"keypoints\":[1,1,2],\"score\":0.5}]",
        why, sizeof why);
    cr_assert_not_null(items, "%s", why);
    cr_assert_str_eq(kind_of(items, 0, 0), "polygon");
    cr_assert_str_eq(kind_of(items, 0, 1), "keypoints");
    json_decref(items);
}

Test(evaluation_coco, empty_array_gives_no_items)
{
    char why[200];
    json_t *items = items_of("[]", why, sizeof why);
    cr_assert_not_null(items, "%s", why);
    cr_assert_eq(json_array_size(items), 0);
    json_decref(items);
}

static void refused(const char *text, const char *message)
{
    char why[200];
    json_t *items = items_of(text, why, sizeof why);
    cr_assert_null(items, "accepted %s", text);
    cr_assert_str_eq(why, message, "for %s", text);
}

Test(evaluation_coco, malformed_results_are_named)
{
    refused("{\"annotations\":[]}", "a COCO results file is a JSON array of results");
    refused("[1]", "results[0]: a result is an object {\"image_id\", ...}");
    refused("[{\"image_id\":1,\"category_id\":1,\"bbox\":[0,0,1,1],\"score\":1}, null]",
            "results[1]: a result is an object {\"image_id\", ...}");
    refused("[{\"category_id\":1,\"bbox\":[0,0,1,1],\"score\":1}]",
            "results[0]: needs an integer image_id (an asset id)");
    refused("[{\"image_id\":\"a.jpg\",\"category_id\":1,\"bbox\":[0,0,1,1],\"score\":1}]",
            "results[0]: needs an integer image_id (an asset id)");
    refused("[{\"image_id\":1.5,\"category_id\":1,\"bbox\":[0,0,1,1],\"score\":1}]",
            "results[0]: needs an integer image_id (an asset id)");
    refused("[{\"image_id\":1,\"category_id\":\"cat\",\"bbox\":[0,0,1,1],\"score\":1}]",
            "results[0]: needs an integer category_id and a numeric score");
    refused("[{\"image_id\":1,\"category_id\":1,\"bbox\":[0,0,1,1]}]",
            "results[0]: needs an integer category_id and a numeric score");
    refused("[{\"image_id\":1,\"category_id\":1,\"bbox\":[0,0,1,1],\"score\":\"0.5\"}]",
            "results[0]: needs an integer category_id and a numeric score");
    refused("[{\"image_id\":1,\"category_id\":1,\"score\":0.5}]",
            "results[0]: has no bbox, segmentation or keypoints (a COCO result needs one)");
    refused("[{\"image_id\":1,\"category_id\":1,\"bbox\":\"0 0 1 1\",\"segmentation\":7,"
            "\"score\":0.5}]",
            "results[0]: has no bbox, segmentation or keypoints (a COCO result needs one)");
}
