/*
 * Placeholder.tsx - sections whose pages arrive with later issues. Each says
 * what will be there, so the navigation already shows the whole product.
 * Replace a section's entry in routes.tsx with its real page when it lands.
 */
import { PageHeader } from '../components/Bits';

export interface PlaceholderSpec {
  title: string;
  part: string;
  summary: string;
  features: string[];
}

export function placeholderPage(spec: PlaceholderSpec) {
  return function Placeholder() {
    return (
      <div class="page">
        <PageHeader title={spec.title} subtitle={`${spec.part} · ${spec.summary}`} />
        <section class="card coming">
          <h2>Coming in a later release</h2>
          <p>This page is not built yet. When it is, it will let you:</p>
          <ul>
            {spec.features.map((f) => (
              <li key={f}>{f}</li>
            ))}
          </ul>
          <p class="muted">
            Everything the page will do goes through the public REST API (<a href="/api/v1/openapi.json">OpenAPI description</a>), so
            scripts and the <code>cvops</code> command line can do it too. Long operations will show up on the <a href="/jobs">Jobs</a> page.
          </p>
        </section>
      </div>
    );
  };
}

export const DatalakePage = placeholderPage({
  title: 'Datalake',
  part: 'Data',
  summary: 'every raw image, stored once',
  features: [
    'Upload images once: the same content is stored only once, whatever its name.',
    'Browse 100,000 thumbnails in a fast grid, search them with the query language.',
    'Tag images and attach metadata, one at a time or in bulk.',
    'Start processings over a selection: pre-annotation with a model, augmentation, auto-tagging, deduplication.',
  ],
});

export const DatasetsPage = placeholderPage({
  title: 'Datasets',
  part: 'Data',
  summary: 'versioned, annotated subsets of the datalake',
  features: [
    'Build dataset versions from datalake images (references, not copies); fork and lock versions.',
    'Label them: classification, boxes, polygons, keypoints and lines.',
    'Split into train / validation / test.',
    'Import and export COCO, YOLO and Pascal VOC.',
  ],
});

export const ProjectsPage = placeholderPage({
  title: 'Projects',
  part: 'Science',
  summary: 'experiments, training and evaluation',
  features: [
    'Group experiments in projects; link dataset versions as train / val / test and a base model.',
    'Record parameters, metric series, tables, images, confusion matrices and artifacts; follow the log live.',
    'Launch training on the platform’s own trainer.',
    'Evaluate predictions against ground truth (COCO and classification metrics) and browse them image by image.',
  ],
});

export const ModelsPage = placeholderPage({
  title: 'Models',
  part: 'Operations',
  summary: 'the model registry',
  features: [
    'Register models and their versions, with files and labels.',
    'See each version’s lineage: the experiment and dataset versions it came from.',
    'Promote a version to a deployment.',
  ],
});

export const DeploymentsPage = placeholderPage({
  title: 'Deployments',
  part: 'Operations',
  summary: 'models serving and being watched',
  features: [
    'Serve a model version behind a predict endpoint, or monitor predictions made elsewhere.',
    'Run a champion and a shadow model side by side.',
    'Watch latency, label distribution, drift and outliers on a monitoring dashboard.',
    'Review predictions and feed them back into datasets; retrain and redeploy automatically.',
  ],
});
