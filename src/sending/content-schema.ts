import { z } from 'zod';
import '../api/openapi'; // extends zod with .openapi()
import { MAX_PLACEHOLDERS, placeholdersOf } from '../domain/template-render';

/**
 * Message content for every type the gateway sends, as accepted by templates, tasks and single messages.
 * Strings may hold `{{variables}}`; lengths are generous because placeholders expand.
 */
const url = z.string().min(1).max(2000);
export const messageContentSchema = z
  .discriminatedUnion('type', [
    z.object({ type: z.literal('text'), text: z.string().min(1).max(8000) }),
    // Markdown (WeCom's subset): the official channel's app messages only; other channels refuse it.
    z.object({ type: z.literal('markdown'), text: z.string().min(1).max(8000) }),
    z.object({ type: z.literal('image'), file_id: z.string().max(200).optional(), url: url.optional() }),
    z.object({ type: z.literal('file'), file_id: z.string().max(200).optional(), url: url.optional(), file_name: z.string().max(255).optional() }),
    z.object({
      type: z.literal('link'),
      title: z.string().min(1).max(500),
      url,
      description: z.string().max(2000).optional(),
      image_url: url.optional(),
    }),
    z.object({
      type: z.literal('miniprogram'),
      app_id: z.string().min(1).max(100),
      title: z.string().min(1).max(500),
      page_path: z.string().min(1).max(1000),
      thumb_url: url.optional(),
    }),
    z.object({
      type: z.literal('at'),
      text: z.string().min(1).max(8000),
      user_ids: z.array(z.string().min(1).max(200)).max(500),
      at_all: z.boolean().optional(),
    }),
  ])
  .superRefine((c, ctx) => {
    if ((c.type === 'image' || c.type === 'file') && !c.file_id && !c.url) {
      ctx.addIssue({ code: 'custom', path: ['file_id'], message: 'file_id or url is required' });
    }
    // Every render costs a lookup per placeholder, for each of up to 10,000 targets: bound it.
    if (placeholdersOf(c).length > MAX_PLACEHOLDERS) {
      ctx.addIssue({ code: 'too_big', type: 'array', maximum: MAX_PLACEHOLDERS, inclusive: true, path: [], message: `at most ${MAX_PLACEHOLDERS} distinct {{placeholders}}` });
    }
  })
  .openapi('MessageContent');

export type MessageContentInput = z.infer<typeof messageContentSchema>;

export const variableDefinitionSchema = z.object({
  name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/, 'letters, digits, _ . - (not starting with a digit)'),
  required: z.boolean().default(false),
  default: z.string().max(2000).optional(),
  description: z.string().max(500).optional(),
});

export const MAX_VARIABLE_VALUES = 100;
export const variableValuesSchema = z
  .record(z.union([z.string().max(4000), z.number(), z.boolean(), z.null()]))
  .refine((v) => Object.keys(v).length <= MAX_VARIABLE_VALUES, `at most ${MAX_VARIABLE_VALUES} variables`);
