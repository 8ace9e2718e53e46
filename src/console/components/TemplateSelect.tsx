import { api, unwrap } from '../api/client';
import { SearchSelect, type SearchSelectProps } from './SearchSelect';

/** A template picker searching the tenant's active templates by name on the server, 50 at a time. */
export function TemplateSelect(props: SearchSelectProps) {
  return (
    <SearchSelect
      {...props}
      listKey="templates"
      fetchPage={async (q, cursor) => unwrap(await api.GET('/api/v1/templates', { params: { query: { limit: 50, is_active: 'true', ...(q ? { q } : {}), ...(cursor ? { cursor } : {}) } } }))}
      toOption={(x) => ({ value: x.id, label: x.name })}
    />
  );
}
