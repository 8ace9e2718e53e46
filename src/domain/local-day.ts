const partsFormats = new Map<string, Intl.DateTimeFormat>();

/**
 * The instant the calendar day containing `instant` began in `timeZone` ("today" for a tenant in
 * Shanghai starts at 16:00 UTC the day before). Reads the wall clock there through Intl and steps back
 * by its time of day, then corrects once for a UTC offset that changed since midnight (DST).
 */
export function startOfLocalDay(instant: Date, timeZone: string): Date {
  let f = partsFormats.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-GB', { timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
    partsFormats.set(timeZone, f);
  }
  const wall = (d: Date) => {
    const p = Object.fromEntries(f!.formatToParts(d).map((x) => [x.type, x.value]));
    return Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day), Number(p.hour), Number(p.minute), Number(p.second));
  };
  const w = wall(instant);
  const offset = w - Math.floor(instant.getTime() / 1000) * 1000;
  const midnightWall = w - (w % 86_400_000);
  let start = midnightWall - offset;
  const offsetAtStart = wall(new Date(start)) - start;
  if (offsetAtStart !== offset) start = midnightWall - offsetAtStart;
  return new Date(start);
}
