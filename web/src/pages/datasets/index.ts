/* The Datasets section: one chunk, loaded on first visit (routes.tsx). */
export { DatasetsPage } from './Datasets';
export { DatasetPage } from './Dataset';
export { VersionPage } from './Version';
