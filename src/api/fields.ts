import { z } from 'zod';
import './openapi'; // extends zod with .openapi() before the schemas below use it

/**
 * Field schemas shared by every route, so one rule holds everywhere. Times are stored in DATETIME(3)
 * columns (UTC), which hold 1000-01-01 … 9999-12-31: a date outside that range would be stored as
 * `0000-00-00` (and sent at once) or fail the insert, so it is refused at the door with the field named.
 */
export const STORABLE_DATE_MIN = Date.UTC(1000, 0, 1);
export const STORABLE_DATE_MAX = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

export const isStorableTime = (ms: number): boolean => Number.isFinite(ms) && ms >= STORABLE_DATE_MIN && ms <= STORABLE_DATE_MAX;

const OUT_OF_RANGE = 'must lie between 1000-01-01 and 9999-12-31 (UTC)';
const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME = z.string().datetime({ offset: true });

/** An ISO 8601 date-time with `Z` or an offset, within the storable range; stays a string. */
export const isoDateTime = z
  .string()
  .datetime({ offset: true, message: 'must be an ISO 8601 date-time with offset (e.g. 2026-01-31T09:00:00Z)' })
  // zod runs refinements after a failed format check too: only a well-formed date gets the range message.
  .refine((s) => !DATE_TIME.safeParse(s).success || isStorableTime(Date.parse(s)), OUT_OF_RANGE);

/** Same as `isoDateTime`, read as a Date. */
export const isoDateTimeAsDate = isoDateTime.transform((s) => new Date(s));

/** A query bound: an ISO 8601 date (`2026-01-31`, UTC midnight) or date-time, within the storable range, read as a Date. */
export const isoDateOrDateTimeAsDate = z
  .string()
  .transform((s, c) => {
    const text = DATE_ONLY.test(s) ? `${s}T00:00:00Z` : s;
    if (!DATE_TIME.safeParse(text).success) {
      c.addIssue({ code: 'custom', message: 'must be an ISO 8601 date or date-time' });
      return z.NEVER;
    }
    if (!isStorableTime(Date.parse(text))) {
      c.addIssue({ code: 'custom', message: OUT_OF_RANGE });
      return z.NEVER;
    }
    return new Date(text);
  })
  .openapi({ type: 'string', format: 'date-time' });

/** http(s) URLs only: `javascript:`, `data:` and the like are refused wherever a URL is stored or shown. */
export const httpUrl = z
  .string()
  .url()
  .max(500)
  .refine((s) => !URL.canParse(s) || /^https?:$/.test(new URL(s).protocol), 'must be an http(s) URL');
