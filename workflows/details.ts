// The run's "current details" in the Temporal UI: a markdown table updated as tasks progress.
// Every value an agent could have written (errors, file names, proposals) is escaped: it shows as
// text, never as a link, an image or HTML.
import { describeResolution, type RunReport } from '../contract/run-types';
import { markdownLines, markdownRow, markdownText as md } from '../contract/text-safety';
import { logsCommand, tailHeading, tasksWithTail } from '../contract/task-output';
import { costOf, tokensOf, totalsText } from '../contract/usage';

const seconds = (from?: number, to?: number) => (from && to ? `${((to - from) / 1000).toFixed(1)}s` : '');

export function detailsMarkdown(r: RunReport): string {
  const rows = r.tasks.map((t) => {
    const state = t.reusedFrom ? `reused (${t.reusedFrom})` : t.status;
    const outcome = t.error
      ? t.error.slice(0, 120)
      : t.status === 'succeeded'
        ? `${t.filesChanged} files, +${t.insertions} −${t.deletions}`
        : '';
    return markdownRow([
      md(t.id),
      md(t.agent),
      md(state),
      seconds(t.startedAt, t.finishedAt),
      tokensOf(t.usage),
      costOf(t.usage),
      md(outcome),
    ]);
  });
  const lines = [
    `**${r.graphName}** · ${r.status} · integration branch \`${r.integrationBranch}\``,
    '',
    markdownRow(['task', 'agent', 'status', 'duration', 'tokens', 'cost', 'outcome']),
    '|---|---|---|---|---|---|---|',
    ...rows,
  ];
  const totals = totalsText(r);
  if (totals) lines.push('', totals);
  if (r.shared) lines.push('', `shared workspace: \`${r.shared.path}\`${r.shared.removed ? ' (removed by the rollback)' : ''}`);
  if (r.approvals?.length)
    lines.push(
      '',
      ...r.approvals.map(
        (a) => `approval of ${md(a.gate)}: **${a.status}**${a.timedOut ? ' (timed out)' : ''}${a.reason ? ` (${md(a.reason)})` : ''}`,
      ),
    );
  if (r.proposals?.length)
    lines.push(
      '',
      ...r.proposals.map((p) => `proposal ${md(p.file)} of ${md(p.by)}: **${p.status}**${p.reason ? ` (${md(p.reason)})` : ''}`),
    );
  if (r.merge.status !== 'pending')
    lines.push(
      '',
      `merge: **${r.merge.status}**${r.merge.conflicts.map((c) => ` · ${md(c.taskId)} × ${md(c.conflictsWith.join(', '))} in ${md(c.files.join(', '))}${md(describeResolution(c.resolution))}`).join('')}`,
    );
  if (r.evaluation) lines.push(`evaluation: **${r.evaluation.passed ? 'passed' : `failed (exit ${r.evaluation.exitCode})`}**`);
  if (r.error) lines.push('', `error: ${md(r.error)}`);
  lines.push(...tailsMarkdown(r));
  return lines.join('\n');
}

/**
 * Why each failed task failed and what each read-only agent found: the heading, the last lines of
 * the agent's output as a quote (each line escaped: an agent wrote them), and the command that
 * prints the whole log.
 */
function tailsMarkdown(r: RunReport): string[] {
  const out: string[] = [];
  for (const t of tasksWithTail(r.tasks)) {
    out.push('', `**${md(tailHeading(t))}**`);
    const tail = t.outputTail ?? [];
    if (tail.length) {
      out.push(
        '',
        markdownLines(tail.join('\n'))
          .split('  \n')
          .map((l) => `> ${l}`)
          .join('  \n'),
      );
    }
    out.push('', `whole log: \`${logsCommand(r.runId, t.id)}\``);
  }
  return out;
}
