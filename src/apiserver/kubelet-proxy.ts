/**
 * @module apiserver/kubelet-proxy
 * pods/<p>/log|exec|attach|portforward are passed to the node agent that runs the pod, over the
 * unix socket named by its Node's annotation svcplane.io/kubelet-socket, using the kubelet's own
 * paths (/containerLogs, /exec, /attach, /portForward). WebSocket (and SPDY) upgrades are passed
 * through byte for byte; logs stream until either side closes.
 */
import http from 'node:http';
import net from 'node:net';
import { res } from '../api/registry.js';
import { HttpError, badRequest, notFound } from './errors.js';
import type { Storage } from './storage.js';

export const KUBELET_SOCKET_ANNOTATION = 'svcplane.io/kubelet-socket';

/**
 * Pass pods/<p>/log|exec|attach|portforward to the node agent that runs the pod, over its unix
 * socket, using the kubelet's own paths. WebSocket upgrades are passed through byte for byte.
 */
export async function proxyToKubelet(req: http.IncomingMessage, resp: http.ServerResponse | undefined, socket: net.Socket | undefined, head: Buffer | undefined,
  storage: Storage, ns: string, podName: string, sub: string, u: URL): Promise<void> {
  const pod = await storage.get(res('pods'), ns, podName) as any;
  const nodeName: string | undefined = pod.spec?.nodeName;
  if (!nodeName) throw badRequest(`pod ${podName} does not have a host assigned`);
  let node: any;
  try { node = await storage.get(res('nodes'), undefined, nodeName); } catch { throw notFound(res('nodes'), nodeName); }
  const sock: string | undefined = node.metadata?.annotations?.[KUBELET_SOCKET_ANNOTATION];
  if (!sock) throw new HttpError(503, 'ServiceUnavailable', `node "${nodeName}" has no node agent endpoint`);
  const q = new URLSearchParams(u.searchParams);
  const containers: string[] = (pod.spec?.containers ?? []).map((c: any) => c.name);
  const container = q.get('container') || containers[0] || '';
  if (sub !== 'portforward' && q.get('container') && !containers.includes(container)) throw badRequest(`container ${container} is not valid for pod ${podName}`);
  q.delete('container');
  let path: string;
  if (sub === 'log') {
    const st = (pod.status?.containerStatuses ?? []).find((c: any) => c.name === container);
    if (!st || (st.state?.waiting && !st.lastState?.terminated && !(q.get('previous') === 'true'))) {
      const reason = st?.state?.waiting?.reason ?? 'ContainerCreating';
      throw badRequest(`container "${container}" in pod "${podName}" is waiting to start: ${reason}`);
    }
    path = `/containerLogs/${ns}/${podName}/${container}?${q}`;
  } else if (sub === 'portforward') path = `/portForward/${ns}/${podName}?${q}`;
  else path = `/${sub}/${ns}/${podName}/${container}?${q}`;
  if (socket) {
    const up = net.connect(sock);
    up.on('error', () => socket.destroy());
    socket.on('error', () => up.destroy());
    up.on('connect', () => {
      const lines = [`${req.method} ${path} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) {
        const k = req.rawHeaders[i]!;
        if (/^(authorization|host)$/i.test(k)) continue;
        lines.push(`${k}: ${req.rawHeaders[i + 1]}`);
      }
      lines.push('Host: localhost');
      up.write(lines.join('\r\n') + '\r\n\r\n');
      if (head?.length) up.write(head);
      up.pipe(socket);
      socket.pipe(up);
    });
    return;
  }
  await new Promise<void>((resolve) => {
    const preq = http.request({ socketPath: sock, path, method: req.method, headers: { ...req.headers, host: 'localhost', authorization: '' } }, (pres) => {
      resp!.writeHead(pres.statusCode ?? 502, pres.headers);
      pres.pipe(resp!);
      pres.on('end', resolve);
      pres.on('error', () => resolve());
    });
    preq.on('error', (e) => {
      if (!resp!.headersSent) { resp!.writeHead(503, { 'Content-Type': 'application/json' }); resp!.end(JSON.stringify(new HttpError(503, 'ServiceUnavailable', `error dialing node agent of ${nodeName}: ${e.message}`).status())); }
      resolve();
    });
    resp!.on('close', () => preq.destroy());
    req.pipe(preq);
  });
}

