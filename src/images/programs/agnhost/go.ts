/**
 * @module images/programs/agnhost/go
 * What agnhost's output owes to Go and its libraries, so the subcommands print and answer byte
 * for byte as upstream's binary: cobra/pflag flag parsing and errors, `log.Printf` lines,
 * `time.ParseDuration` / `Duration.String`, `encoding/json` (sorted keys, HTML escaping),
 * net/http's `http.Error`, `http.Redirect`, content sniffing and path cleaning, and Go's words
 * for network errors.
 */
import type http from 'node:http';
import { readFileSync } from 'node:fs';

// ---------------------------------------------------------------------------------------------
// cobra / pflag

export type FlagType = 'int' | 'string' | 'bool' | 'duration';
export interface FlagDef { type: FlagType; def: string; usage: string }
export interface CommandDef {
  use: string;
  short: string;
  flags: Record<string, FlagDef>;
  /** cobra.MaximumNArgs(0) → max 0; cobra.ExactArgs(1) → exact 1. */
  args: { max: number } | { exact: number };
}
export type Parsed = { flags: Record<string, string>; args: string[] };

/** klog's flags are persistent flags of agnhost's root command: accepted by every subcommand. */
const KLOG: Record<string, FlagDef> = {
  add_dir_header: { type: 'bool', def: 'false', usage: 'If true, adds the file directory to the header of the log messages' },
  alsologtostderr: { type: 'bool', def: 'false', usage: 'log to standard error as well as files (no effect when -logtostderr=true)' },
  log_backtrace_at: { type: 'string', def: ':0', usage: 'when logging hits line file:N, emit a stack trace' },
  log_dir: { type: 'string', def: '', usage: 'If non-empty, write log files in this directory (no effect when -logtostderr=true)' },
  log_file: { type: 'string', def: '', usage: 'If non-empty, use this log file (no effect when -logtostderr=true)' },
  log_file_max_size: { type: 'int', def: '1800', usage: 'Defines the maximum size a log file can grow to (no effect when -logtostderr=true). Unit is megabytes. If the value is 0, the maximum file size is unlimited.' },
  logtostderr: { type: 'bool', def: 'true', usage: 'log to standard error instead of files' },
  one_output: { type: 'bool', def: 'false', usage: 'If true, only write logs to their native severity level (vs also writing to each lower severity level; no effect when -logtostderr=true)' },
  skip_headers: { type: 'bool', def: 'false', usage: 'If true, avoid header prefixes in the log messages' },
  skip_log_headers: { type: 'bool', def: 'false', usage: 'If true, avoid headers when opening log files (no effect when -logtostderr=true)' },
  stderrthreshold: { type: 'string', def: '2', usage: 'logs at or above this threshold go to stderr when writing to files and stderr (no effect when -logtostderr=true or -alsologtostderr=true)' },
  v: { type: 'int', def: '0', usage: 'number for the log level verbosity' },
  vmodule: { type: 'string', def: '', usage: 'comma-separated list of pattern=N settings for file-filtered logging' },
};

export class UsageError extends Error {}

function typeName(t: FlagType): string { return t === 'bool' ? '' : t; }

function flagLines(flags: Record<string, FlagDef>): string {
  const rows = Object.entries(flags).sort(([a], [b]) => a.localeCompare(b)).map(([n, f]) => {
    const left = `      --${n}${typeName(f.type) ? ` ${typeName(f.type)}` : ''}`;
    const shown = f.type === 'string' ? (f.def ? ` (default "${f.def}")` : '') : (f.def && f.def !== 'false' && f.def !== '0' && f.def !== '0s' ? ` (default ${f.def})` : '');
    return [left, `${f.usage}${shown}`] as const;
  });
  const w = Math.max(...rows.map(([l]) => l.length));
  return rows.map(([l, r]) => `${l.padEnd(w)}   ${r}\n`).join('');
}

export function commandUsage(cmd: CommandDef): string {
  const own = { ...cmd.flags, help: { type: 'bool' as const, def: 'false', usage: `help for ${cmd.use.split(' ')[0]}` } };
  return `Usage:\n  app ${cmd.use}${cmd.use.includes('[flags]') ? '' : ' [flags]'}\n\nFlags:\n${flagLines(own).replace(/^ {6}--help/m, '  -h, --help')}\nGlobal Flags:\n${flagLines(KLOG)}`;
}

function checkValue(name: string, f: FlagDef, v: string): void {
  const bad = (why: string) => { throw new UsageError(`invalid argument "${v}" for "--${name}" flag: ${why}`); };
  if (f.type === 'int' && parseGoInt(v) === undefined) bad(`strconv.ParseInt: parsing ${goQuote(v)}: ${/^[+-]?\d+$/.test(v) ? 'value out of range' : 'invalid syntax'}`);
  if (f.type === 'bool' && !/^(1|0|t|f|T|F|true|false|TRUE|FALSE|True|False)$/.test(v)) bad(`strconv.ParseBool: parsing ${goQuote(v)}: invalid syntax`);
  if (f.type === 'duration') { try { parseDuration(v); } catch (e) { bad((e as Error).message); } }
}

/** pflag's parse of one subcommand's arguments (flags interspersed with arguments, `--` ends flags). */
export function parseFlags(cmd: CommandDef, argv: string[]): Parsed {
  const all = { ...KLOG, ...cmd.flags };
  const flags: Record<string, string> = {};
  for (const [n, f] of Object.entries(cmd.flags)) flags[n] = f.def;
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') { args.push(...argv.slice(i + 1)); break; }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = a.slice(2, eq < 0 ? undefined : eq);
      if (name === 'help') throw new HelpRequest();
      const f = all[name];
      if (!f) throw new UsageError(`unknown flag: --${name}`);
      let v: string;
      if (eq >= 0) v = a.slice(eq + 1);
      else if (f.type === 'bool') v = 'true';
      else if (i + 1 < argv.length) v = argv[++i]!;
      else throw new UsageError(`flag needs an argument: --${name}`);
      checkValue(name, f, v);
      flags[name] = f.type === 'bool' ? String(/^(1|t|T|true|TRUE|True)$/.test(v)) : v;
    } else if (a.startsWith('-') && a.length > 1) {
      if (a[1] === 'h') throw new HelpRequest();
      throw new UsageError(`unknown shorthand flag: '${a[1]}' in ${a}`);
    } else args.push(a);
  }
  if ('max' in cmd.args && args.length > cmd.args.max) throw new UsageError(`accepts at most ${cmd.args.max} arg(s), received ${args.length}`);
  if ('exact' in cmd.args && args.length !== cmd.args.exact) throw new UsageError(`accepts ${cmd.args.exact} arg(s), received ${args.length}`);
  return { flags, args };
}

export class HelpRequest extends Error {}

/** Go's strconv.ParseInt(s, 0, 64) as pflag's IntVar uses it (0x, 0o, 0b prefixes, underscores). */
export function parseGoInt(s: string): number | undefined {
  const m = /^([+-]?)(0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|0[0-7_]*|[1-9][0-9_]*)$/.exec(s);
  if (!m || /__|_$/.test(m[2]!)) return undefined;
  const body = m[2]!.replace(/_/g, '');
  let n: number;
  if (/^0[xX]/.test(body)) n = parseInt(body.slice(2), 16);
  else if (/^0[oO]/.test(body)) n = parseInt(body.slice(2), 8);
  else if (/^0[bB]/.test(body)) n = parseInt(body.slice(2), 2);
  else if (body.length > 1 && body[0] === '0') n = parseInt(body, 8);
  else n = parseInt(body, 10);
  n = m[1] === '-' ? -n : n;
  return Number.isSafeInteger(n) ? n : undefined;
}

/** strconv.Atoi: decimal only; its error text. */
export function atoi(s: string): number | Error {
  if (!/^[+-]?\d+$/.test(s)) return new Error(`strconv.Atoi: parsing ${goQuote(s)}: invalid syntax`);
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : new Error(`strconv.Atoi: parsing ${goQuote(s)}: value out of range`);
}

// ---------------------------------------------------------------------------------------------
// log, fmt

const two = (n: number) => String(n).padStart(2, '0');

/** log.Printf: "2006/01/02 15:04:05 message\n" on stderr. */
export function logf(msg: string): void {
  const d = new Date();
  process.stderr.write(`${d.getFullYear()}/${two(d.getMonth() + 1)}/${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())} ${msg}${msg.endsWith('\n') ? '' : '\n'}`);
}

/** log.Fatalf: the line, then exit status 1. */
export function fatalf(msg: string): never {
  logf(msg);
  process.exit(1);
}

/** Go's %q for a string (strconv.Quote). */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\x07') out += '\\a';
    else if (ch === '\b') out += '\\b';
    else if (ch === '\f') out += '\\f';
    else if (ch === '\v') out += '\\v';
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else if (c === 0xfffd) out += '\\ufffd';
    else out += ch;
  }
  return `${out}"`;
}

/** time.Now() printed with %v: "2006-01-02 15:04:05.999999999 -0700 MST m=+0.000000001". */
export function goNow(): string {
  const d = new Date();
  const ns = (d.getMilliseconds() * 1e6 + Number(process.hrtime.bigint() % 1_000_000n)).toString().padStart(9, '0').replace(/0+$/, '');
  const off = -d.getTimezoneOffset();
  const zone = `${off >= 0 ? '+' : '-'}${two(Math.floor(Math.abs(off) / 60))}${two(Math.abs(off) % 60)}`;
  const abbr = off === 0 && (process.env.TZ ?? 'UTC').match(/^(UTC|Etc\/UTC|)$/) ? 'UTC'
    : new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' }).formatToParts(d).find((p) => p.type === 'timeZoneName')?.value ?? zone;
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}${ns ? `.${ns}` : ''} ${zone} ${abbr} m=+${(performance.now() / 1000).toFixed(9)}`;
}

// ---------------------------------------------------------------------------------------------
// time.Duration

const UNITS: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, 'μs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** time.ParseDuration → nanoseconds; throws with Go's message. */
export function parseDuration(s: string): number {
  const orig = s;
  const q = goQuote(orig);
  let neg = false;
  if (s[0] === '-' || s[0] === '+') { neg = s[0] === '-'; s = s.slice(1); }
  if (s === '0') return 0;
  if (s === '') throw new Error(`time: invalid duration ${q}`);
  let total = 0;
  while (s !== '') {
    const m = /^(\d*)(\.(\d*))?/.exec(s)!;
    if (!m[1] && !m[3]) throw new Error(`time: invalid duration ${q}`);
    s = s.slice(m[0].length);
    const u = /^[^\d.]*/.exec(s)![0];
    if (u === '') throw new Error(`time: missing unit in duration ${q}`);
    const unit = UNITS[u];
    if (unit === undefined) throw new Error(`time: unknown unit ${goQuote(u)} in duration ${q}`);
    s = s.slice(u.length);
    total += Number(m[1] || '0') * unit + (m[3] ? Math.floor(Number(`0.${m[3]}`) * unit) : 0);
  }
  return neg ? -total : total;
}

function fracStr(v: number, prec: number): string {
  const ip = Math.floor(v / 10 ** prec), fp = (v % 10 ** prec).toString().padStart(prec, '0').replace(/0+$/, '');
  return fp ? `${ip}.${fp}` : String(ip);
}

/** time.Duration.String for nanoseconds. */
export function durationString(ns: number): string {
  ns = Math.round(ns);
  if (ns === 0) return '0s';
  const sign = ns < 0 ? '-' : '';
  const u = Math.abs(ns);
  if (u < 1e3) return `${sign}${u}ns`;
  if (u < 1e6) return `${sign}${fracStr(u, 3)}µs`;
  if (u < 1e9) return `${sign}${fracStr(u, 6)}ms`;
  const h = Math.floor(u / 3600e9), m = Math.floor((u % 3600e9) / 60e9), s = fracStr(u % 60e9, 9);
  return `${sign}${h ? `${h}h` : ''}${h || m ? `${m}m` : ''}${s}s`;
}

// ---------------------------------------------------------------------------------------------
// encoding/json

/** json.Marshal of strings, string arrays and maps of them: map keys sorted, <>& escaped. */
export function goJSON(v: unknown): string {
  if (typeof v === 'string') {
    return `"${v.replace(/[\u0000-\u001f"\\<>&\u2028\u2029]/g, (c) => {
      switch (c) {
        case '"': return '\\"';
        case '\\': return '\\\\';
        case '\n': return '\\n';
        case '\r': return '\\r';
        case '\t': return '\\t';
        case '\b': return '\\b';
        case '\f': return '\\f';
        default: return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
      }
    })}"`;
  }
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return `[${v.map(goJSON).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o).sort().map((k) => `${goJSON(k)}:${goJSON(o[k])}`).join(',')}}`;
}

/** json.Marshal of a struct: fields in declaration order. */
export function goStructJSON(fields: [string, unknown][]): string {
  return `{${fields.map(([k, v]) => `${goJSON(k)}:${goJSON(v)}`).join(',')}}`;
}

// ---------------------------------------------------------------------------------------------
// net/http

const HTML_SIGS = ['<!DOCTYPE HTML', '<HTML', '<HEAD', '<SCRIPT', '<IFRAME', '<H1', '<DIV', '<FONT', '<TABLE', '<A', '<STYLE', '<TITLE', '<B', '<BODY', '<BR', '<P', '<!--'];

/** http.DetectContentType for the bodies agnhost writes (HTML, XML, PDF, text vs. binary). */
export function sniff(body: Buffer): string {
  const s = body.subarray(0, 512);
  const lead = s.toString('latin1').replace(/^[\t\n\x0c\r ]+/, '');
  const up = lead.toUpperCase();
  for (const sig of HTML_SIGS) if (up.startsWith(sig) && (up.length === sig.length ? false : up[sig.length] === ' ' || up[sig.length] === '>')) return 'text/html; charset=utf-8';
  if (lead.startsWith('<?xml')) return 'text/xml; charset=utf-8';
  if (s.toString('latin1').startsWith('%PDF-')) return 'application/pdf';
  if (s[0] === 0x1f && s[1] === 0x8b && s[2] === 0x08) return 'application/x-gzip';
  if (s.subarray(0, 4).equals(Buffer.from('PK\x03\x04', 'latin1'))) return 'application/zip';
  if (s.subarray(0, 8).equals(Buffer.from('\x89PNG\r\n\x1a\n', 'latin1'))) return 'image/png';
  for (const b of s) if (b <= 0x08 || b === 0x0b || (b >= 0x0e && b <= 0x1a) || (b >= 0x1c && b <= 0x1f)) return 'application/octet-stream';
  return 'text/plain; charset=utf-8';
}

/**
 * A ResponseWriter's end: Go sets Content-Type by sniffing when the handler did not, and an empty
 * body carries no Content-Type at all. Invalid status codes make Go's handler panic: the
 * connection is closed without an answer.
 */
export function send(res: http.ServerResponse, status: number, body: string | Buffer = '', headers: Record<string, string> = {}): void {
  if (!Number.isInteger(status) || status < 100 || status > 999) { res.socket?.destroy(); return; }
  const buf = typeof body === 'string' ? Buffer.from(body) : body;
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  if (buf.length && !res.hasHeader('Content-Type')) res.setHeader('Content-Type', sniff(buf));
  res.setHeader('Content-Length', buf.length);
  res.writeHead(status);
  res.end(buf);
}

/** http.Error: text/plain, nosniff, the message and a newline. */
export function httpError(res: http.ServerResponse, msg: string, status: number): void {
  send(res, status, `${msg}\n`, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
}

export const STATUS_TEXT: Record<number, string> = {
  200: 'OK', 201: 'Created', 204: 'No Content', 300: 'Multiple Choices', 301: 'Moved Permanently', 302: 'Found', 303: 'See Other',
  304: 'Not Modified', 307: 'Temporary Redirect', 308: 'Permanent Redirect', 400: 'Bad Request', 404: 'Not Found',
  412: 'Precondition Failed', 417: 'Expectation Failed', 500: 'Internal Server Error', 503: 'Service Unavailable',
};

/** path.Clean. */
export function cleanPath(p: string): string {
  if (p === '') return '.';
  const rooted = p.startsWith('/');
  const out: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') { if (out.length && out[out.length - 1] !== '..') out.pop(); else if (!rooted) out.push('..'); continue; }
    out.push(seg);
  }
  const s = (rooted ? '/' : '') + out.join('/');
  return s === '' ? (rooted ? '/' : '.') : s;
}

/** ServeMux's cleanPath: rooted, cleaned, trailing slash kept. */
export function muxCleanPath(p: string): string {
  if (p === '') return '/';
  if (!p.startsWith('/')) p = `/${p}`;
  let np = cleanPath(p);
  if (p.endsWith('/') && np !== '/') np += '/';
  return np;
}

const htmlEscape = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&#34;', "'": '&#39;' })[c]!);

/** http.Redirect: relative locations resolved against the request path, an HTML body for GET. */
export function redirect(req: { method?: string; path: string }, res: http.ServerResponse, location: string, code: number): void {
  let url = location;
  if (!/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(url.split(/[/?#]/)[0] ?? '') || url.startsWith('/')) {
    if (!url.startsWith('//')) {
      if (!url.startsWith('/')) {
        const olddir = req.path.endsWith('/') ? req.path : req.path.slice(0, req.path.lastIndexOf('/') + 1);
        url = (olddir || '/') + url;
      }
      const q = url.search(/[?#]/);
      const [p, rest] = q < 0 ? [url, ''] : [url.slice(0, q), url.slice(q)];
      const trailing = p.endsWith('/');
      let cp = cleanPath(p);
      if (trailing && !cp.endsWith('/')) cp += '/';
      url = cp + rest;
    }
  }
  const headers: Record<string, string> = { Location: url.replace(/[^\x00-\x7f]/g, (c) => encodeURIComponent(c)) };
  const get = req.method === 'GET' || req.method === 'HEAD';
  if (get) headers['Content-Type'] = 'text/html; charset=utf-8';
  send(res, code, req.method === 'GET' ? `<a href="${htmlEscape(url)}">${STATUS_TEXT[code] ?? ''}</a>.\n\n` : '', headers);
}

/** textproto.CanonicalMIMEHeaderKey. */
export function canonicalHeader(k: string): string {
  if (!/^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/.test(k)) return k;
  return k.toLowerCase().replace(/(^|-)([a-z])/g, (_m, d: string, c: string) => d + c.toUpperCase());
}

/** net.JoinHostPort / a RemoteAddr: brackets around IPv6, IPv4-mapped addresses unmapped as Go prints them. */
export function hostPort(addr: string | undefined, port: number | string | undefined): string {
  const a = (addr ?? '').replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1');
  return a.includes(':') ? `[${a}]:${port}` : `${a}:${port}`;
}

const ERRNO_TEXT: Record<string, string> = {
  ECONNREFUSED: 'connection refused', ECONNRESET: 'connection reset by peer', EHOSTUNREACH: 'no route to host',
  ENETUNREACH: 'network is unreachable', ETIMEDOUT: 'connection timed out', EPIPE: 'broken pipe',
  EADDRINUSE: 'address already in use', EACCES: 'permission denied', EADDRNOTAVAIL: 'cannot assign requested address',
  ENOENT: 'no such file or directory', EAFNOSUPPORT: 'address family not supported by protocol', EINVAL: 'invalid argument',
};

/** The text Go's syscall.Errno gives for a Node error code. */
export function errnoText(code: string | undefined): string {
  return ERRNO_TEXT[code ?? ''] ?? (code ?? 'unknown error').toLowerCase();
}

/** The first nameserver of /etc/resolv.conf, as Go's resolver names it in "lookup X on S:53" errors. */
export function resolverName(): string {
  try {
    const m = /^nameserver\s+(\S+)/m.exec(readFileSync('/etc/resolv.conf', 'utf8'));
    if (m) return hostPort(m[1], 53);
  } catch { /* Go falls back to the local resolver */ }
  return '127.0.0.1:53';
}

/** Go's net.DNSError text for a failed getaddrinfo. */
export function lookupError(host: string, code: string | undefined): string {
  const why = code === 'ENOTFOUND' || code === 'ENODATA' ? 'no such host' : code === 'EAI_AGAIN' ? 'server misbehaving' : errnoText(code);
  return `lookup ${host} on ${resolverName()}: ${why}`;
}

/** net.SplitHostPort with Go's errors. */
export function splitHostPort(hp: string): [string, string] {
  const fail = (why: string): never => { throw new Error(`address ${hp}: ${why}`); };
  const i = hp.lastIndexOf(':');
  if (i < 0) fail('missing port in address');
  let host: string;
  if (hp.startsWith('[')) {
    const end = hp.indexOf(']');
    if (end < 0) fail("missing ']' in address");
    if (end + 1 === hp.length) fail('missing port in address');
    if (end + 1 !== i) fail(hp[end + 1] === ':' ? 'too many colons in address' : 'missing port in address');
    host = hp.slice(1, end);
  } else {
    host = hp.slice(0, i);
    if (host.includes(':')) fail('too many colons in address');
  }
  return [host, hp.slice(i + 1)];
}

/** The numeric port Go's resolver accepts (a number or /etc/services name); throws Go's words. */
export function lookupPort(network: 'tcp' | 'udp' | 'sctp', port: string): number {
  if (port === '') return 0;
  if (/^\d+$/.test(port)) {
    const n = Number(port);
    if (n > 65535) throw new Error(`address ${port}: invalid port`);
    return n;
  }
  try {
    for (const line of readFileSync('/etc/services', 'utf8').split('\n')) {
      const f = line.replace(/#.*/, '').trim().split(/\s+/);
      const [num, proto] = (f[1] ?? '').split('/');
      if (proto === network && (f[0] === port || f.slice(2).includes(port))) return Number(num);
    }
  } catch { /* no services file: unknown */ }
  throw new Error(`lookup ${network}/${port}: unknown port`);
}
