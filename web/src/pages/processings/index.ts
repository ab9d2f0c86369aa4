/* The Processings section: one chunk, loaded on first visit. */
export { ProcessingsPage } from './Processings';
export { LaunchPage } from './Launch';
export { RunPage } from './Run';
