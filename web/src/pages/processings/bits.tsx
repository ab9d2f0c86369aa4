/* bits.tsx - pieces shared by the processing pages. */
import type { Run } from '../../lib/processing';

/** A run's target as a link to its page. */
export function TargetRef({ input }: { input: Run['input'] }) {
  const name = input.name ?? `#${input.id}`;
  switch (input.kind) {
    case 'datalake':
      return <a href={`/datalake?lake=${input.id}`}>datalake {name}</a>;
    case 'dataset-version':
      return input.dataset_id ? (
        <a href={`/datasets/${input.dataset_id}/versions/${input.id}`}>
          {input.dataset ?? 'dataset'} / {name}
        </a>
      ) : (
        <span>dataset version {input.id}</span>
      );
    case 'model-version':
      return input.model_id ? (
        <a href={`/models/${input.model_id}/versions/${input.version ?? ''}`}>
          {input.model ?? 'model'} v{input.version}
        </a>
      ) : (
        <span>model version {input.id}</span>
      );
    case 'experiment':
      return input.project_id ? <a href={`/projects/${input.project_id}/experiments/${input.id}`}>experiment {name}</a> : <span>experiment {input.id}</span>;
    default:
      return <span>{String(input.kind)} {input.id}</span>;
  }
}
