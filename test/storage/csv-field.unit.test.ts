import { csvField } from '../../src/storage/task-report';

describe('csvField defuses spreadsheet formulas (CSV injection)', () => {
  test.each([
    ['=1+1', "'=1+1"],
    ['+cmd', "'+cmd"],
    ['-2+3', "'-2+3"],
    ['@SUM(A1)', "'@SUM(A1)"],
    ['\tx', "'\tx"],
    ['\r=x', "\"'\r=x\""],
    ['  =HYPERLINK("http://evil")', "\"'  =HYPERLINK(\"\"http://evil\"\")\""],
    ['\uFF1D1+1', "'\uFF1D1+1"],
    ['\uFF0B1', "'\uFF0B1"],
    ['\uFF0D1', "'\uFF0D1"],
    ['\uFF20x', "'\uFF20x"],
  ])('%j is written as text', (input, expected) => {
    expect(csvField(input)).toBe(expected);
  });

  test('ordinary values are untouched, quoted only when RFC 4180 needs it', () => {
    expect(csvField('plain text')).toBe('plain text');
    expect(csvField('a=b')).toBe('a=b');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField(null)).toBe('');
    expect(csvField(42)).toBe('42');
    expect(csvField(new Date('2026-01-02T03:04:05.000Z'))).toBe('2026-01-02T03:04:05.000Z');
  });
});
