/**
 * @module api/types
 * Kubernetes object types used across svcplane. The shapes come from the
 * `kubernetes-types` package (generated from the upstream OpenAPI), re-exported here so
 * every component imports types from one place.
 */
export type { ObjectMeta, OwnerReference, ListMeta, Status, StatusCause, LabelSelector, Condition, ManagedFieldsEntry, Time } from 'kubernetes-types/meta/v1.js';
export type {
  Namespace, Pod, PodSpec, PodStatus, PodCondition, Container, ContainerStatus, ContainerPort, EnvVar, Probe,
  PodTemplateSpec, Service, ServiceSpec, ServicePort, ServiceStatus, Endpoints, EndpointSubset, EndpointAddress,
  EndpointPort, Node, NodeStatus, NodeCondition, Event, ConfigMap, ServiceAccount, Secret, Binding, ObjectReference,
  LoadBalancerIngress,
} from 'kubernetes-types/core/v1.js';
export type { Deployment, DeploymentSpec, DeploymentStatus, DeploymentCondition, ReplicaSet, StatefulSet } from 'kubernetes-types/apps/v1.js';
export type { EndpointSlice, Endpoint as SliceEndpoint, EndpointPort as SlicePort, EndpointConditions } from 'kubernetes-types/discovery/v1.js';
export type { Lease } from 'kubernetes-types/coordination/v1.js';
export type { Scale } from 'kubernetes-types/autoscaling/v1.js';

import type { ObjectMeta } from 'kubernetes-types/meta/v1.js';

/** The part every Kubernetes object has (typed objects such as Service satisfy it). */
export interface MetaObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
}

/** Any Kubernetes object: what the store and the generic REST paths handle. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  [field: string]: unknown;
}

/** A list as the API returns it. */
export interface KubeList<T = KubeObject> {
  apiVersion: string;
  kind: string;
  metadata: { resourceVersion?: string; continue?: string; remainingItemCount?: number };
  items: T[];
}

/** One event of a watch stream. */
export interface WatchEvent<T = KubeObject> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}
