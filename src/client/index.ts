/** @module client — svcplane's Kubernetes client: REST, watch, informers, work queues, leader election, events. */
export { Client, type RequestOptions, type RawResponse } from './rest.js';
export { Informer, type InformerOptions } from './informer.js';
export { WorkQueue } from './workqueue.js';
export { LeaderElector, microTime } from './leader.js';
export { EventRecorder } from './events.js';
export { keyOf, splitKey } from './keys.js';
export { loadKubeconfig, inClusterConfig, defaultKubeconfigPath, SOCKET_EXTENSION } from './kubeconfig.js';
export { requestPodToken, writeServiceAccountFiles, tokenRefreshAt, SERVICE_ACCOUNT_MOUNT, POD_TOKEN_EXPIRATION_SECONDS, type PodToken } from './serviceaccount-token.js';
export * from './types.js';
