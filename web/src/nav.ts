/*
 * nav.ts - the sidebar: the product's three parts, then Jobs and Settings.
 * `prefix` decides which entry is current for a path (/jobs/12 -> Jobs).
 */
export interface NavItem {
  href: string;
  label: string;
  prefix: string;
  blurb?: string;
}

export interface NavGroup {
  label: string;
  /** One line about the part (shown on the home page); none for utility groups. */
  part?: string;
  items: NavItem[];
}

export const NAV: NavGroup[] = [
  {
    label: 'Data',
    part: 'Collect images once, then build versioned, annotated datasets from them.',
    items: [
      { href: '/datalake', label: 'Datalake', prefix: '/datalake', blurb: 'upload, tag and search raw images' },
      { href: '/datasets', label: 'Datasets', prefix: '/datasets', blurb: 'versions, labels, splits, import and export' },
      { href: '/processings', label: 'Processings', prefix: '/processings', blurb: 'augment, de-duplicate, split, tile, resize, auto-tag, your own code' },
    ],
  },
  {
    label: 'Science',
    part: 'Track experiments, train on the platform, evaluate against ground truth.',
    items: [{ href: '/projects', label: 'Projects', prefix: '/projects', blurb: 'experiments, training runs and evaluations' }],
  },
  {
    label: 'Operations',
    part: 'Register models, deploy them, watch them and feed reviewed predictions back.',
    items: [
      { href: '/models', label: 'Models', prefix: '/models', blurb: 'the registry of model versions' },
      { href: '/deployments', label: 'Deployments', prefix: '/deployments', blurb: 'serving, monitoring and review' },
    ],
  },
  {
    label: 'Platform',
    items: [
      { href: '/jobs', label: 'Jobs', prefix: '/jobs' },
      { href: '/settings/members', label: 'Settings', prefix: '/settings' },
    ],
  },
];

export function navCurrent(path: string, item: NavItem): boolean {
  return path === item.prefix || path.startsWith(item.prefix + '/');
}
