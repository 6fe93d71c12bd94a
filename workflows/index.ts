export { runGraph, statusQuery } from './run-graph';
export { runTask } from './run-task';
