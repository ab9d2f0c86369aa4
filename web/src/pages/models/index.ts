/* The Models section: one chunk, loaded on first visit. */
export { ModelsPage } from './Models';
export { ModelPage } from './Model';
export { ModelVersionPage } from './ModelVersion';
