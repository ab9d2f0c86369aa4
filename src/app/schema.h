/*
 * schema.h - the program's schema migrations, in order (see schema.c).
 */
#ifndef CVOPS_APP_SCHEMA_H
#define CVOPS_APP_SCHEMA_H

#include "store/db.h"

extern const db_migration app_migrations[];
extern const int app_migration_count;

#endif
