{{/*
Names, labels and the few decisions several templates share.
*/}}

{{/* The chart name, overridable. */}}
{{- define "ion-gateway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end }}

{{/* The full name of the release's objects (63 characters at most: DNS labels). */}}
{{- define "ion-gateway.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end }}

{{/* name-version, for the helm.sh/chart label. */}}
{{- define "ion-gateway.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end }}

{{/* The standard labels of every object. */}}
{{- define "ion-gateway.labels" -}}
helm.sh/chart: {{ include "ion-gateway.chart" . }}
{{ include "ion-gateway.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ion-gateway
{{- end }}

{{/* The labels that select the pods (immutable in a Deployment: never add a changing value here). */}}
{{- define "ion-gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ion-gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "ion-gateway.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "ion-gateway.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end }}

{{/* repository:tag, or repository@digest when a digest is given. */}}
{{- define "ion-gateway.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end }}

{{/* The Secret holding the .ionapi file: yours (ionapi.existingSecret) or the chart's (ionapi.content). */}}
{{- define "ion-gateway.ionapiSecretName" -}}
{{- default (printf "%s-ionapi" (include "ion-gateway.fullname" .)) .Values.ionapi.existingSecret -}}
{{- end }}

{{/* "true" when client API keys are configured (CLIENT_API_KEYS_FILE is set), else "". */}}
{{- define "ion-gateway.clientAuthEnabled" -}}
{{- if or .Values.clientAuth.existingSecret .Values.clientAuth.apiKeys -}}true{{- end -}}
{{- end }}

{{- define "ion-gateway.clientAuthSecretName" -}}
{{- default (printf "%s-api-keys" (include "ion-gateway.fullname" .)) .Values.clientAuth.existingSecret -}}
{{- end }}

{{/* The Secret holding REDIS_URL: yours (redis.existingSecret) or the chart's (redis.url). */}}
{{- define "ion-gateway.redisSecretName" -}}
{{- default (printf "%s-redis" (include "ion-gateway.fullname" .)) .Values.redis.existingSecret -}}
{{- end }}

{{/*
"true" when the gateway uses Redis: cluster and sentinel always (their addresses are required), standalone when a
URL is given (REDIS_URL, always from a Secret).
*/}}
{{- define "ion-gateway.redisEnabled" -}}
{{- if or (ne .Values.redis.mode "standalone") .Values.redis.url .Values.redis.existingSecret -}}true{{- end -}}
{{- end }}

{{/*
Refuses Redis values that contradict each other: the settings of two topologies at once, a mode without its
addresses, and credentials outside the URL in standalone mode (the gateway refuses REDIS_USERNAME and REDIS_PASSWORD
next to REDIS_URL, and TLS is the URL's rediss://).
*/}}
{{- define "ion-gateway.validateRedis" -}}
{{- $r := .Values.redis -}}
{{- $standalone := or $r.url $r.existingSecret -}}
{{- if and $r.url $r.existingSecret -}}
{{- fail "redis: set url or existingSecret, not both" -}}
{{- end -}}
{{- if eq $r.mode "standalone" -}}
{{- if or $r.cluster.nodes $r.sentinel.sentinels $r.sentinel.masterName $r.sentinel.password.existingSecret -}}
{{- fail "redis.mode is standalone but redis.cluster or redis.sentinel is set: set redis.mode to cluster or sentinel, one topology at a time" -}}
{{- end -}}
{{- if or $r.username $r.password.existingSecret $r.tls -}}
{{- fail "redis.mode=standalone: put the user and password in the URL and use rediss:// for TLS (redis.username, redis.password and redis.tls are for cluster and sentinel)" -}}
{{- end -}}
{{- else if eq $r.mode "cluster" -}}
{{- if not $r.cluster.nodes -}}
{{- fail "redis.mode=cluster needs redis.cluster.nodes (seed nodes, host:port)" -}}
{{- end -}}
{{- if or $standalone $r.sentinel.sentinels $r.sentinel.masterName $r.sentinel.password.existingSecret -}}
{{- fail "redis.mode=cluster: unset redis.url, redis.existingSecret and redis.sentinel (one topology at a time)" -}}
{{- end -}}
{{- else if eq $r.mode "sentinel" -}}
{{- if not $r.sentinel.sentinels -}}
{{- fail "redis.mode=sentinel needs redis.sentinel.sentinels (host:port of each Sentinel)" -}}
{{- end -}}
{{- if not $r.sentinel.masterName -}}
{{- fail "redis.mode=sentinel needs redis.sentinel.masterName (the master group name, e.g. mymaster)" -}}
{{- end -}}
{{- if or $standalone $r.cluster.nodes -}}
{{- fail "redis.mode=sentinel: unset redis.url, redis.existingSecret and redis.cluster.nodes (one topology at a time)" -}}
{{- end -}}
{{- end -}}
{{- if and (eq .Values.config.CACHE_DRIVER "redis") (not (include "ion-gateway.redisEnabled" .)) -}}
{{- fail "config.CACHE_DRIVER=redis needs Redis: redis.url or redis.existingSecret (standalone), or redis.mode cluster or sentinel" -}}
{{- end -}}
{{- end }}

{{/*
A securityContext (list CONTEXT PLATFORM_ASSIGNS_IDS) as YAML; with the flag, without the uid, gid and fsGroup, which
the platform then assigns (OpenShift's restricted SCC refuses ids outside the namespace's range).
*/}}
{{- define "ion-gateway.securityContext" -}}
{{- $context := index . 0 -}}
{{- if index . 1 -}}
{{- $context = omit $context "runAsUser" "runAsGroup" "fsGroup" -}}
{{- end -}}
{{- toYaml $context -}}
{{- end }}

{{/* The pods the budget counts on: the HPA's floor, or replicaCount without the HPA. */}}
{{- define "ion-gateway.minReplicas" -}}
{{- ternary .Values.autoscaling.minReplicas .Values.replicaCount .Values.autoscaling.enabled | int -}}
{{- end }}

{{/*
Refuses a PodDisruptionBudget that would block every drain. values.schema.json refuses what one value decides
(minAvailable 100 % or more, maxUnavailable 0 or 0 %); this refuses what needs the replica count too: minAvailable,
a count or a percentage (which Kubernetes rounds up), that reaches the replica count.
*/}}
{{- define "ion-gateway.validatePdb" -}}
{{- $pdb := .Values.podDisruptionBudget -}}
{{- $replicas := include "ion-gateway.minReplicas" . | int -}}
{{- if and $pdb.enabled (gt $replicas 1) (eq (toString $pdb.maxUnavailable) "") -}}
{{- $min := toString $pdb.minAvailable -}}
{{- $kept := 0 -}}
{{- if hasSuffix "%" $min -}}
{{- $kept = div (add (mul (trimSuffix "%" $min | int) $replicas) 99) 100 -}}
{{- else -}}
{{- $kept = $min | int -}}
{{- end -}}
{{- if ge (int $kept) $replicas -}}
{{- fail (printf "podDisruptionBudget.minAvailable=%s keeps all %d pods (%s) and would block every node drain: set it below %d, or set podDisruptionBudget.maxUnavailable" $min $replicas (ternary "autoscaling.minReplicas" "replicaCount" .Values.autoscaling.enabled) $replicas) -}}
{{- end -}}
{{- end -}}
{{- end }}

{{/*
An environment value as a quoted string. Helm reads numbers of values.yaml as float64, which print in exponent
form from 1e6 on (67108864 -> "6.7108864e+07", which the gateway would refuse): integers are printed as integers.
*/}}
{{- define "ion-gateway.envValue" -}}
{{- if kindIs "float64" . -}}
{{- int64 . | toString | quote -}}
{{- else -}}
{{- toString . | quote -}}
{{- end -}}
{{- end }}

{{/*
Refuses combinations that would install but never run. DRAIN_BUDGET_S is src/server.ts' DRAIN_BUDGET_MS (25 s):
the pod must outlive SHUTDOWN_DELAY_MS plus that, or the kubelet kills requests still draining.
*/}}
{{- define "ion-gateway.validate" -}}
{{- if and .Values.ionapi.existingSecret .Values.ionapi.content -}}
{{- fail "ionapi: set existingSecret or content, not both" -}}
{{- end -}}
{{- if not (or .Values.ionapi.existingSecret .Values.ionapi.content) -}}
{{- fail "ionapi: the gateway needs its .ionapi file: set ionapi.existingSecret (kubectl create secret generic NAME --from-file=credentials.ionapi=FILE) or ionapi.content (--set-file ionapi.content=FILE)" -}}
{{- end -}}
{{- if and .Values.clientAuth.existingSecret .Values.clientAuth.apiKeys -}}
{{- fail "clientAuth: set existingSecret or apiKeys, not both" -}}
{{- end -}}
{{- include "ion-gateway.validateRedis" . -}}
{{- $drainBudgetS := 25 -}}
{{- if le (int .Values.terminationGracePeriodSeconds) (add (div (int .Values.shutdown.delayMs) 1000) $drainBudgetS) -}}
{{- fail (printf "terminationGracePeriodSeconds must exceed shutdown.delayMs/1000 + %d (the drain budget)" $drainBudgetS) -}}
{{- end -}}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) -}}
{{- fail "autoscaling.minReplicas must not exceed autoscaling.maxReplicas" -}}
{{- end -}}
{{- include "ion-gateway.validatePdb" . -}}
{{- end }}
