#include "formats/internal.h"
int fmt_yolo_read(fmt_rd *rd, const char *path) { (void)path; return fmt_rd_fatal(rd, ERR_UNSUPPORTED, "", "todo"); }
int fmt_voc_read(fmt_rd *rd, const char *path) { (void)path; return fmt_rd_fatal(rd, ERR_UNSUPPORTED, "", "todo"); }
int fmt_folder_read(fmt_rd *rd, const char *path) { (void)path; return fmt_rd_fatal(rd, ERR_UNSUPPORTED, "", "todo"); }
int fmt_csv_read(fmt_rd *rd, const char *path) { (void)path; return fmt_rd_fatal(rd, ERR_UNSUPPORTED, "", "todo"); }
const fmt_writer_ops fmt_yolo_writer_ops, fmt_voc_writer_ops, fmt_folder_writer_ops, fmt_csv_writer_ops;
