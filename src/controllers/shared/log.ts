/** @module controllers/shared/log — one JSON line per log record, on stderr. */
export function log(level: 'info' | 'warn' | 'error', component: string, msg: string, fields: Record<string, unknown> = {}): void {
  if (process.env.SVCPLANE_QUIET_CONTROLLERS && level === 'info') return;
  console.error(JSON.stringify({ ts: new Date().toISOString(), level, component, msg, ...fields }));
}
