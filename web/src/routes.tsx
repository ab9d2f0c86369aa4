/*
 * routes.tsx - every page and its URL. A later section replaces its
 * placeholder here (and may add detail routes such as /datasets/:id).
 * The first pattern that matches wins.
 */
import type { FunctionComponent } from 'preact';
import { GridDemoPage } from './pages/GridDemo';
import { HomePage } from './pages/Home';
import { JobPage } from './pages/Job';
import { JobsPage } from './pages/Jobs';
import { DatalakePage, DatasetsPage, DeploymentsPage, ModelsPage, ProjectsPage } from './pages/Placeholder';
import { SettingsPage } from './pages/Settings';

export interface PageProps {
  params: Record<string, string>;
}

export interface Route {
  path: string;
  component: FunctionComponent<PageProps>;
}

export const ROUTES: Route[] = [
  { path: '/', component: HomePage },
  { path: '/datalake', component: DatalakePage },
  { path: '/datasets', component: DatasetsPage },
  { path: '/projects', component: ProjectsPage },
  { path: '/models', component: ModelsPage },
  { path: '/deployments', component: DeploymentsPage },
  { path: '/jobs', component: JobsPage },
  { path: '/jobs/:id', component: JobPage },
  { path: '/settings/:tab?', component: SettingsPage },
  { path: '/dev/grid', component: GridDemoPage },
];
