// Text an agent wrote, made safe for the terminal, the HTML report and the Temporal UI's markdown.
import { htmlText, markdownLines, markdownText, terminalText } from '../../contract/text-safety';

describe('terminalText', () => {
  test('drops escape sequences of every kind, keeping the text around them', () => {
    expect(terminalText('\x1b[31mred\x1b[0m plain')).toBe('red plain'); // colour
    expect(terminalText('a\x1b[2J\x1b[Hb\x1b[1A\x1b[Kc')).toBe('abc'); // clear screen, cursor home, up, erase line
    expect(terminalText('x\x1b]0;pwned title\x07y')).toBe('xy'); // window title (BEL)
    expect(terminalText('x\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\y')).toBe('xclicky'); // hyperlink (ST)
    expect(terminalText('x\x1b]52;c;ZXZpbA==\x07y')).toBe('xy'); // clipboard write
    expect(terminalText('x\x1bPq#0;1;2\x1b\\y')).toBe('xy'); // DCS (sixel)
    expect(terminalText('x\x1bcy\x1b(Bz\x1b7w')).toBe('xyzw'); // reset, charset, save cursor
    expect(terminalText('x\x9b31my\x9d0;t\x9cz')).toBe('xyz'); // 8-bit CSI and OSC
    expect(terminalText('x\x1b]0;never ends')).toBe('x'); // unterminated: to the end
    expect(terminalText('tail\x1b')).toBe('tail');
  });

  test('drops control characters and bidi controls; newlines and tabs become spaces unless multiline', () => {
    expect(terminalText('over\rwrite')).toBe('over write');
    expect(terminalText('bell\x07 back\x08space del\x7f nul\x00')).toBe('bell backspace del nul');
    expect(terminalText('a\u202eb\u2066c\u2069d\u200be')).toBe('abcde');
    expect(terminalText('one\ntwo\tthree\u2028four')).toBe('one two three four');
    expect(terminalText('one\r\ntwo\n\x1b[31mthree', { multiline: true })).toBe('one\ntwo\nthree');
  });

  test('leaves ordinary text alone, and takes anything', () => {
    expect(terminalText('task impl-a: exit 1 — “ünïcödé” 日本 ✓')).toBe('task impl-a: exit 1 — “ünïcödé” 日本 ✓');
    expect(terminalText(undefined)).toBe('');
    expect(terminalText(42)).toBe('42');
  });
});

describe('markdownText', () => {
  test('HTML is shown, not rendered', () => {
    expect(markdownText('<img src=x onerror=alert(1)> & <script>')).toBe('\\<img src=x onerror=alert\\(1\\)\\> \\& \\<script\\>');
    expect(markdownText('&lt; stays literal')).toBe('\\&lt; stays literal');
  });

  test('no links, images, emphasis, code, table cells or headings', () => {
    expect(markdownText('[click](https://evil.example) ![x](https://tracker.example/p.png)')).toBe(
      '\\[click\\]\\(https\\://evil.example\\) \\!\\[x\\]\\(https\\://tracker.example/p.png\\)',
    );
    expect(markdownText('**bold** _it_ `code` ~~gone~~ a|b # h \\')).toBe(
      '\\*\\*bold\\*\\* \\_it\\_ \\`code\\` \\~\\~gone\\~\\~ a\\|b \\# h \\\\',
    );
    expect(markdownText('<https://evil.example>')).toBe('\\<https\\://evil.example\\>');
    // nor a bare link (GFM autolinks): the Temporal UI links neither
    expect(markdownText('see http://evil.example or WWW.evil.example, at 10:30')).toBe(
      'see http\\://evil.example or WWW\\.evil.example, at 10:30',
    );
  });

  test('one line: newlines cannot start a row or a block; terminal sequences are gone', () => {
    expect(markdownText('x\n| fake | row |\n\n# Heading')).toBe('x \\| fake \\| row \\|  \\# Heading');
    expect(markdownText('\x1b[31mred\x1b[0m')).toBe('red');
  });
});

describe('markdownLines', () => {
  test('keeps the lines; what would start a list, heading or rule is escaped', () => {
    expect(markdownLines('Add multiply\n- item\n+ item\n1. first\n===\n> quote\n# title')).toBe(
      'Add multiply  \n\\- item  \n\\+ item  \n1\\. first  \n\\===  \n\\> quote  \n\\# title',
    );
    expect(markdownText('1 files, +1 −0')).toBe('1 files, +1 −0');
  });
});

describe('htmlText', () => {
  test('escapes what HTML gives meaning to, in text and attributes', () => {
    expect(htmlText(`<a href="x" onclick='y'>&</a>`)).toBe('&#60;a href=&#34;x&#34; onclick=&#39;y&#39;&#62;&#38;&#60;/a&#62;');
  });
});
