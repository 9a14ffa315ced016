// The records picked for comparison (at most two, from any sessions). Kept in sessionStorage so the choice
// survives moving between sessions and reloads in this tab; React reads it through useSyncExternalStore.
const KEY = 'llmtrace.compare';
const listeners = new Set<() => void>();
let picked: string[] = load();

function load(): string[] {
  try {
    const v = JSON.parse(sessionStorage.getItem(KEY) ?? '[]') as unknown;
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string').slice(-2) : [];
  } catch {
    return [];
  }
}

function save(next: string[]) {
  picked = next;
  try {
    sessionStorage.setItem(KEY, JSON.stringify(next));
  } catch {
    // Storage disabled: the choice lives until reload.
  }
  listeners.forEach((l) => l());
}

export const comparePicked = () => picked;
export function subscribeCompare(l: () => void): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}

// Adds or removes a record; a third pick replaces the older of the two.
export function toggleCompare(id: string) {
  if (picked.includes(id)) save(picked.filter((x) => x !== id));
  else save([...picked, id].slice(-2));
}
export const clearCompare = () => save([]);

export const comparePath = (a: string, b: string) => `/compare?a=${encodeURIComponent(a)}&b=${encodeURIComponent(b)}`;
