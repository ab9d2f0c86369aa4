/* The Deployments section: one chunk, loaded on first visit. */
export { DeploymentsPage } from './Deployments';
export { DeploymentPage } from './Deployment';
export { PredictionsPage } from './Predictions';
export { ReviewPage } from './Review';
export { PipelinePage } from './Pipeline';
