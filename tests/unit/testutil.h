/*
 * testutil.h - helpers shared by the unit tests.
 */
#ifndef CVOPS_TESTS_TESTUTIL_H
#define CVOPS_TESTS_TESTUTIL_H

#include <criterion/parameterized.h>

#include "store/db.h"

/* A fresh, empty database for one test: a temporary SQLite file, or a new
 * schema in the PostgreSQL test cluster ($CVOPS_TEST_PG_URL, started by
 * tests/with-services). Aborts the test if the driver is unavailable. */
db *test_db_open(db_driver_kind kind);
/* The parameters of a test that runs on both drivers:
 *   ParameterizedTestParameters(suite, name) { return test_both_drivers(); }
 *   ParameterizedTest(db_driver_kind *k, suite, name) { db *d = test_db_open(*k); ... } */
struct criterion_test_params test_both_drivers(void);
/* A fresh temporary directory (removed by the OS's tmp cleanup). */
const char *test_tmpdir(void);

#endif
