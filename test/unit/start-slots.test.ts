// The container-start queue: at most `limit` starts at once, in arrival order, and a cancelled
// waiter gives its turn back without running.
import { CancelledFailure } from '@temporalio/common';
import type { Context } from '@temporalio/activity';
import { StartSlots } from '../../activities/container-run';

const tick = () => new Promise((r) => setTimeout(r, 5));

test('never more than the limit at once, in order of arrival', async () => {
  const slots = new StartSlots(3);
  let active = 0;
  let peak = 0;
  const order: number[] = [];
  await Promise.all(
    Array.from({ length: 12 }, (_, i) =>
      slots.run(undefined, async () => {
        order.push(i);
        active++;
        peak = Math.max(peak, active);
        await tick();
        active--;
      }),
    ),
  );
  expect(peak).toBe(3);
  expect(order).toEqual([...Array(12).keys()]);
});

test('a failing start frees its slot', async () => {
  const slots = new StartSlots(1);
  await expect(slots.run(undefined, async () => Promise.reject(new Error('engine said no')))).rejects.toThrow('engine said no');
  await expect(slots.run(undefined, async () => 'next')).resolves.toBe('next');
});

test('cancelled while waiting: nothing runs, and the slot goes to the next in line', async () => {
  const slots = new StartSlots(1);
  let release!: () => void;
  const holder = slots.run(undefined, () => new Promise<void>((r) => (release = r)));
  let cancel!: () => void;
  const ctx = { cancelled: new Promise((_, reject) => (cancel = () => reject(new CancelledFailure('cancel')))) } as unknown as Context;
  const ran: string[] = [];
  const waiting = slots.run(ctx, async () => ran.push('cancelled one'));
  const next = slots.run(undefined, async () => ran.push('next'));
  cancel();
  await expect(waiting).rejects.toBeInstanceOf(CancelledFailure);
  release();
  await holder;
  await next;
  expect(ran).toEqual(['next']);
  await expect(slots.run(undefined, async () => 'free')).resolves.toBe('free');
});
