// An experiment's folder (data-folder.ts: experimentDir): its results, written when it ends.
import * as path from 'node:path';

export function experimentFiles(dir: string) {
  return {
    /** one row per cell */
    csv: path.join(dir, 'results.csv'),
    json: path.join(dir, 'results.json'),
    html: path.join(dir, 'report.html'),
    /** the log of a worker the `experiment` command ran in its own process */
    workerLog: path.join(dir, 'worker.log'),
    /** what the experiment was started with (client/api.ts) */
    start: path.join(dir, 'experiment.json'),
  };
}
