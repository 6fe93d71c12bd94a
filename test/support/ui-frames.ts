// The Temporal UI in a real browser: what the tests that read it share.
import type { Page } from 'playwright-core';

/** The UI renders summaries and details (markdown) in iframes of their own: waits for one showing `text`. */
export async function waitForFrameText(page: Page, text: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const frame of page.frames()) {
      if (
        (
          await frame
            .locator('body')
            .innerText()
            .catch(() => '')
        ).includes(text)
      )
        return;
    }
    if (Date.now() > deadline) {
      const shown = await Promise.all(
        page.frames().map((f) =>
          f
            .locator('body')
            .innerText()
            .catch(() => ''),
        ),
      );
      throw new Error(`no frame of ${page.url()} shows "${text}"; they show:\n${shown.map((t) => t.slice(0, 3000)).join('\n---\n')}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}
