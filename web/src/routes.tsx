/*
 * routes.tsx - every page and its URL. A later section replaces its
 * placeholder here (and may add detail routes such as /datasets/:id).
 * The first pattern that matches wins. A large section is loaded on first
 * use with lazyPage(() => import(...)), which makes it a chunk of its own.
 */
import type { FunctionComponent } from 'preact';
import { GridDemoPage } from './pages/GridDemo';
import { HomePage } from './pages/Home';
import { JobPage } from './pages/Job';
import { JobsPage } from './pages/Jobs';
import { ComparePage } from './pages/projects/Compare';
import { ExperimentPage } from './pages/projects/Experiment';
import { ProjectPage } from './pages/projects/Project';
import { ProjectsPage } from './pages/projects/Projects';
import { SettingsPage } from './pages/Settings';
import { lazyPage } from './lib/lazy';

export interface PageProps {
  params: Record<string, string>;
}

export interface Route {
  path: string;
  component: FunctionComponent<PageProps>;
}

/* big sections load on first use (lib/lazy.tsx): their own chunk */
const DatalakePage = lazyPage<PageProps>(() => import('./pages/datalake/Datalake').then((m) => m.DatalakePage));
const ItemPage = lazyPage<PageProps>(() => import('./pages/datalake/Item').then((m) => m.ItemPage));
const DatasetsPage = lazyPage<PageProps>(() => import('./pages/datasets').then((m) => m.DatasetsPage));
const DatasetPage = lazyPage<PageProps>(() => import('./pages/datasets').then((m) => m.DatasetPage));
const VersionPage = lazyPage<PageProps>(() => import('./pages/datasets').then((m) => m.VersionPage));
const AnnotatePage = lazyPage<PageProps>(() => import('./pages/annotate/Annotate').then((m) => m.AnnotatePage));
const ModelsPage = lazyPage<PageProps>(() => import('./pages/models').then((m) => m.ModelsPage));
const ModelPage = lazyPage<PageProps>(() => import('./pages/models').then((m) => m.ModelPage));
const ModelVersionPage = lazyPage<PageProps>(() => import('./pages/models').then((m) => m.ModelVersionPage));
const DeploymentsPage = lazyPage<PageProps>(() => import('./pages/deployments').then((m) => m.DeploymentsPage));
const DeploymentPage = lazyPage<PageProps>(() => import('./pages/deployments').then((m) => m.DeploymentPage));
const PredictionsPage = lazyPage<PageProps>(() => import('./pages/deployments').then((m) => m.PredictionsPage));
const PipelinePage = lazyPage<PageProps>(() => import('./pages/deployments').then((m) => m.PipelinePage));
const ReviewPage = lazyPage<PageProps>(() => import('./pages/deployments').then((m) => m.ReviewPage));
const ProcessingsPage = lazyPage<PageProps>(() => import('./pages/processings').then((m) => m.ProcessingsPage));
const LaunchPage = lazyPage<PageProps>(() => import('./pages/processings').then((m) => m.LaunchPage));
const RunPage = lazyPage<PageProps>(() => import('./pages/processings').then((m) => m.RunPage));
const EvaluationPage = lazyPage<PageProps>(() => import('./pages/evaluation/Evaluation').then((m) => m.EvaluationPage));

export const ROUTES: Route[] = [
  { path: '/', component: HomePage },
  { path: '/datalake', component: DatalakePage },
  { path: '/datalake/data/:id', component: ItemPage },
  { path: '/datasets', component: DatasetsPage },
  { path: '/datasets/:id', component: DatasetPage },
  { path: '/datasets/:did/versions/:vid', component: VersionPage },
  { path: '/datasets/:did/versions/:vid/annotate/:aid', component: AnnotatePage },
  { path: '/processings', component: ProcessingsPage },
  { path: '/processings/runs/:id', component: RunPage },
  { path: '/processings/:name/launch', component: LaunchPage },
  { path: '/projects', component: ProjectsPage },
  { path: '/projects/:id', component: ProjectPage },
  { path: '/projects/:pid/compare', component: ComparePage },
  { path: '/projects/:pid/experiments/:xid/evaluations/:id', component: EvaluationPage },
  { path: '/projects/:pid/experiments/:id/:tab?', component: ExperimentPage },
  { path: '/models', component: ModelsPage },
  { path: '/models/:id', component: ModelPage },
  { path: '/models/:id/versions/:ref', component: ModelVersionPage },
  { path: '/deployments', component: DeploymentsPage },
  { path: '/deployments/:id', component: DeploymentPage },
  { path: '/deployments/:id/predictions', component: PredictionsPage },
  { path: '/deployments/:id/pipeline', component: PipelinePage },
  { path: '/deployments/:did/predictions/:id', component: ReviewPage },
  { path: '/jobs', component: JobsPage },
  { path: '/jobs/:id', component: JobPage },
  { path: '/settings/:tab?', component: SettingsPage },
  { path: '/dev/grid', component: GridDemoPage },
];
