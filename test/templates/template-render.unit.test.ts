import { compileTemplate, placeholdersOf, renderContent, undeclaredPlaceholders } from '../../src/domain/template-render';
import { UnprocessableError } from '../../src/errors';

describe('renderContent', () => {
  test('replaces placeholders in every string field of every content type, nested arrays included', () => {
    const defs = [{ name: 'name', required: true }, { name: 'shop' }];
    expect(renderContent({ type: 'text', text: 'Hi {{name}}, welcome to {{ shop }}' }, defs, { name: 'Ann', shop: 'Z' }).content).toEqual({
      type: 'text',
      text: 'Hi Ann, welcome to Z',
    });
    const link = renderContent(
      { type: 'link', title: '{{name}}', url: 'https://x.test/?u={{name}}', description: 'd', image_url: 'https://i/{{shop}}.png' },
      defs,
      { name: 'Bo', shop: 's1' },
    ).content;
    expect(link).toEqual({ type: 'link', title: 'Bo', url: 'https://x.test/?u=Bo', description: 'd', image_url: 'https://i/s1.png' });
    const at = renderContent({ type: 'at', text: 'hey {{name}}', user_ids: ['{{name}}', 'u2'] }, defs, { name: 'c' }).content;
    expect(at).toEqual({ type: 'at', text: 'hey c', user_ids: ['c', 'u2'] });
    const mp = renderContent({ type: 'miniprogram', app_id: 'a', title: '{{shop}}', page_path: 'p?x={{name}}' }, defs, { name: 1, shop: true });
    expect(mp.content).toEqual({ type: 'miniprogram', app_id: 'a', title: 'true', page_path: 'p?x=1' });
  });

  test('missing required variables are one 422 naming all of them', () => {
    const defs = [{ name: 'a', required: true }, { name: 'b', required: true }, { name: 'c' }];
    let err: unknown;
    try {
      renderContent({ type: 'text', text: '{{a}} {{b}} {{c}}' }, defs, {});
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UnprocessableError);
    expect((err as UnprocessableError).status).toBe(422);
    expect((err as UnprocessableError).code).toBe('missing_variables');
    expect((err as UnprocessableError).details).toEqual({ missing: ['a', 'b'] });
  });

  test('defaults fill absent values; optional variables without value render empty', () => {
    const defs = [{ name: 'a', default: 'dflt' }, { name: 'b' }];
    expect(renderContent({ type: 'text', text: '[{{a}}][{{b}}]' }, defs, {}).content).toEqual({ type: 'text', text: '[dflt][]' });
    expect(renderContent({ type: 'text', text: '[{{a}}]' }, defs, { a: 'given' }).content).toEqual({ type: 'text', text: '[given]' });
  });

  test('values are inserted literally: no nested evaluation, no code execution', () => {
    const defs = [{ name: 'name', required: true }, { name: 'secret', default: 'S3CRET' }];
    const out = renderContent({ type: 'text', text: 'Hi {{name}}' }, defs, { name: '{{secret}} ${process.exit()} <script>' });
    expect(out.content).toEqual({ type: 'text', text: 'Hi {{secret}} ${process.exit()} <script>' });
    // `$&` and `$1` are special in String.replace replacement strings; they must stay literal.
    expect(renderContent({ type: 'text', text: '{{name}}' }, defs, { name: '$& $1 $$' }).content).toEqual({ type: 'text', text: '$& $1 $$' });
  });

  test('unknown placeholders are reported, and fail when nothing resolves them', () => {
    const defs = [{ name: 'a' }];
    const r = renderContent({ type: 'text', text: '{{a}} {{extra}}' }, defs, { a: 'x', extra: 'y', unused: 'z' });
    expect(r.content).toEqual({ type: 'text', text: 'x y' });
    expect(r.unknownPlaceholders).toEqual(['extra']);
    expect(r.unusedValues).toEqual(['unused']);
    expect(() => renderContent({ type: 'text', text: '{{nowhere}}' }, defs, {})).toThrow(/nowhere/);
    expect(undeclaredPlaceholders({ type: 'text', text: '{{a}} {{b}} {{b}}' }, defs)).toEqual(['b']);
  });

  test('placeholder syntax: spaces allowed, invalid names left alone', () => {
    expect(placeholdersOf({ t: '{{ a }} {{b.c}} {{1x}} {{ }} {a}' })).toEqual(['a', 'b.c']);
    expect(renderContent({ type: 'text', text: '{{1x}}' }, [], {}).content).toEqual({ type: 'text', text: '{{1x}}' });
  });

  test('placeholders resolve own properties only: inherited names are neither values nor given', () => {
    // {{constructor}} used to render `function Object() { [native code] }`, and a required toString counted as given.
    expect(() => renderContent({ type: 'text', text: 'x {{constructor}}' }, [], {})).toThrow(/constructor/);
    expect(renderContent({ type: 'text', text: '[{{constructor}}][{{hasOwnProperty}}]' }, [{ name: 'constructor' }, { name: 'hasOwnProperty' }], {}).content).toEqual({
      type: 'text',
      text: '[][]',
    });
    expect(() => renderContent({ type: 'text', text: 'hi' }, [{ name: 'toString', required: true }], {})).toThrow(/toString/);
    const own = JSON.parse('{"constructor":"c","__proto__":"p"}');
    expect(renderContent({ type: 'text', text: '{{constructor}} {{__proto__}}' }, [], own).content).toEqual({ type: 'text', text: 'c p' });
  });
});

describe('compileTemplate', () => {
  const defs = [{ name: 'a', required: true }, { name: 'b', default: 'B' }, { name: 'c' }, { name: 'r', required: true }];
  const content = { type: 'text', text: '{{a}} {{b}} {{c}} {{x}}' };
  test('needed names, missing per value sets (merged left to right, own non-null values only), same output as renderContent', () => {
    const t = compileTemplate(content, defs);
    expect(t.placeholders).toEqual(['a', 'b', 'c', 'x']);
    expect(t.needed).toEqual(['a', 'x', 'r']);
    expect(t.missing({ a: '1' }, { x: 2, r: true })).toEqual([]);
    expect(t.missing({ a: '1', x: '2', r: 'y' }, { a: null })).toEqual(['a']);
    expect(t.missing({}, { toString: undefined } as never)).toEqual(['a', 'x', 'r']);
    expect(t.render({ a: '1', x: 'X', r: 'R' }, { a: 'A' })).toEqual(renderContent(content, defs, { a: 'A', x: 'X', r: 'R' }).content);
    expect(() => t.render({ a: '1' })).toThrow(/missing template variables: x, r/);
  });
});
