// The experiment file format: subjects × arms × repetitions, each cell an ordinary run of a task
// graph. Agents are written as in a graph file (graph/schema.ts), so one shape serves both.
import { z } from 'zod';
import { agentSchema, gatewaySchema, limitsSchema } from '../graph/schema';
import { parseDuration } from '../graph/units';

const duration = z
  .union([z.string(), z.number()])
  .refine((v) => parseDuration(v) !== undefined, { message: 'expected a duration such as 90s, 10m or 1h' });

/** A name that becomes part of run ids and branch names. */
const safeName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]*$/, { message: 'expected a name of letters, digits, - and _' });

export const BUILT_IN_ARMS = ['single', 'serial', 'parallel', 'best-of-n'] as const;
export type BuiltInArm = (typeof BUILT_IN_ARMS)[number];

export const subjectSchema = z
  .object({
    name: safeName.describe('Names the subject in results and run ids'),
    repo: z.string().min(1).describe('Path of the git repository, relative to this file'),
    baseBranch: z.string().min(1).default('main'),
    task: z.string().min(1).describe('The job the agents are given'),
    evaluate: z
      .object({
        command: z
          .string()
          .min(1)
          .describe('Shell command run on the merged tree; exit 0 passes. It may write JUnit XML to $AGENTVISOR_JUNIT for test counts'),
        image: z.string().min(1).optional(),
        timeout: duration.optional(),
        limits: limitsSchema.default({}),
      })
      .strict()
      .optional(),
  })
  .strict();

export const armSchema = z.union([
  z.string(),
  z
    .object({
      arm: z.string().optional().describe('A built-in arm: single, serial, parallel, best-of-n'),
      graph: z.string().min(1).optional().describe('A graph file with placeholders {{repo}}, {{baseBranch}}, {{task}}, {{subject}}'),
      name: safeName.optional().describe('Names the arm in results; default: the built-in name (best-of-N), or the graph file name'),
      n: z.number().int().min(2).max(10).optional().describe('best-of-n: how many single agents compete'),
    })
    .strict(),
]);

export const experimentSchema = z
  .object({
    name: safeName,
    note: z.string().optional().describe('Shown at the top of the report: what the agents and their traffic are, how to read the figures'),
    subjects: z.array(subjectSchema).min(1, { message: 'an experiment needs at least one subject' }),
    agents: z.record(z.string(), agentSchema).default({}),
    roles: z
      .object({
        single: z.string().min(1).optional().describe('The agent of single and best-of-n; default: the agent named single'),
        writer: z.string().min(1).optional(),
        tester: z.string().min(1).optional(),
        auditor: z.string().min(1).optional(),
      })
      .strict()
      .default({})
      .describe('Which agent plays which part in the built-in arms; default: the agent of that name'),
    arms: z.array(armSchema).min(1, { message: 'an experiment needs at least one arm' }),
    repeat: z.number().int().min(1, { message: 'repeat must be at least 1' }).max(100).default(1),
    budget: z
      .object({
        tokens: z.number().int().describe('All tokens of the cell (input + output), enforced by the gateway'),
        usd: z.number().describe('Dollars of the cell, enforced by the gateway'),
        wallTime: duration.describe('Wall time of the cell; past it the cell is cancelled and rolled back'),
      })
      .partial()
      .strict()
      .optional()
      .describe('One budget per cell, the same for every arm, so that arms are compared at equal cost'),
    concurrency: z.number().int().min(1).max(64).default(2).describe('Cells running at once, at most'),
    merge: z
      .object({
        onConflict: z.enum(['fail', 'retry', 'resolve']).default('fail'),
        resolver: z.string().optional(),
      })
      .strict()
      .default({ onConflict: 'fail' })
      .describe("The parallel arm's merge settings, as a graph's"),
    gateway: gatewaySchema.optional().describe("The cells' gateway, as a graph's"),
  })
  .strict();

export type ExperimentFile = z.infer<typeof experimentSchema>;
export type SubjectFile = z.infer<typeof subjectSchema>;
export type ArmFile = z.infer<typeof armSchema>;
