// Test counts from the JUnit XML an evaluation wrote ($AGENTVISOR_JUNIT), which the experiment's
// wrapper (arms.ts: wrapEvaluation) prints into the evaluation log as base64 between two markers.
import { JUNIT_BEGIN, JUNIT_END, type TestCounts } from '../contract/experiment-types';

/** The JUnit XML of an evaluation log, when the evaluation wrote one (the last one printed). */
export function junitFromLog(log: string): string | undefined {
  const begin = log.lastIndexOf(JUNIT_BEGIN);
  if (begin < 0) return undefined;
  const end = log.indexOf(JUNIT_END, begin);
  if (end < 0) return undefined;
  const b64 = log.slice(begin + JUNIT_BEGIN.length, end).replace(/\s+/g, '');
  return Buffer.from(b64, 'base64').toString('utf8');
}

/**
 * Counts the <testcase> elements, and those holding a <failure> or <error>. Skipped cases count in
 * neither passed nor failed. (JUnit's dialects agree on these elements; suites' own totals differ.)
 */
export function countJunit(xml: string): TestCounts {
  let passed = 0;
  let failed = 0;
  let total = 0;
  const cases = xml.matchAll(/<testcase\b[^>]*?(\/>|>([\s\S]*?)<\/testcase>)/g);
  for (const c of cases) {
    total++;
    const body = c[2] ?? '';
    if (/<(failure|error)\b/.test(body)) failed++;
    else if (!/<skipped\b/.test(body)) passed++;
  }
  return { passed, failed, total, source: 'junit' };
}

/** The tests of an evaluation: from its JUnit file when it wrote one, else its exit code as one test. */
export function testsOfEvaluation(log: string | undefined, passed: boolean | undefined): TestCounts {
  if (passed === undefined) return { passed: 0, failed: 0, total: 0, source: 'none' };
  const xml = log === undefined ? undefined : junitFromLog(log);
  if (xml !== undefined) return countJunit(xml);
  return { passed: passed ? 1 : 0, failed: passed ? 0 : 1, total: 1, source: 'exit-code' };
}
