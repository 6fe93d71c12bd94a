export { runGraph } from './run-graph';
export { statusQuery } from './messages';
export { runTask } from './run-task';
export { runExperiment } from './run-experiment';
export { experimentStatusQuery } from './messages';
