import { PrometheusRule, ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1'
import { Deployment } from 'kubernetes-models/apps/v1'
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2'
import { Ingress, NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1'
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1'
import { ConfigMap, Secret, Service, ServiceAccount } from 'kubernetes-models/v1'
import type { Manifest } from './helm.ts'

/**
 * The Kubernetes OpenAPI schemas (kubernetes-models: Kubernetes 1.34; the prometheus-operator CRDs for the
 * ServiceMonitor and PrometheusRule), compiled to validators and shipped in the npm package: no cluster and no download.
 */

interface Validatable { validate (): void }
type ModelClass = new (data: never) => Validatable

const MODELS: Record<string, ModelClass> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'apps/v1/Deployment': Deployment,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'networking.k8s.io/v1/Ingress': Ingress,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule,
}

/** Why Kubernetes would refuse `doc`, or undefined when its schema accepts it. */
export function kubernetesSchemaErrors (doc: Manifest): string | undefined {
  const Model = MODELS[`${doc.apiVersion}/${doc.kind}`]
  if (!Model) return `no schema for ${doc.apiVersion} ${doc.kind}: add its model to test/delivery/kube-schemas.ts`
  const { apiVersion: _apiVersion, kind: _kind, ...data } = doc
  try {
    new Model(data as never).validate()
  } catch (err) {
    return (err as Error).message
  }
  return undefined
}
