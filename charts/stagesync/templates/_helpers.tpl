{{/* The chart name, or nameOverride. */}}
{{- define "stagesync.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The full name of the release's resources: fullnameOverride, else <release>-<chart> (just
the release name when it already contains the chart name). */}}
{{- define "stagesync.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* chart-version, for the helm.sh/chart label. */}}
{{- define "stagesync.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every resource. */}}
{{- define "stagesync.labels" -}}
helm.sh/chart: {{ include "stagesync.chart" . }}
{{ include "stagesync.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: stagesync
{{- end }}

{{/* Labels that select the operator's pods (immutable in a Deployment: never add to them). */}}
{{- define "stagesync.selectorLabels" -}}
app.kubernetes.io/name: {{ include "stagesync.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The ServiceAccount the operator runs as. */}}
{{- define "stagesync.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "stagesync.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image reference: repository@digest, else repository:tag (tag defaults to appVersion). */}}
{{- define "stagesync.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion | toString) }}
{{- end }}
{{- end }}

{{/* The metrics listen address for --metrics-addr (0.0.0.0, every IPv4 address). */}}
{{- define "stagesync.metricsAddr" -}}
{{- printf "0.0.0.0:%d" (int64 .Values.metrics.port) }}
{{- end }}

{{/* Whether a PodDisruptionBudget is rendered. */}}
{{- define "stagesync.pdb" -}}
{{- if or .Values.podDisruptionBudget.enabled (gt (int64 .Values.replicaCount) 1) }}true{{ end }}
{{- end }}

{{/* The arguments of `stagesync run`: every operator setting as --flag=value. Boolean switches
that take no value (--allow-ambient-credentials, --reloader-compatible) appear only when on. */}}
{{- define "stagesync.args" -}}
{{- $o := .Values.operator -}}
{{- $r := $o.restarts -}}
- run
{{- range .Values.scope.namespaces }}
- {{ printf "--namespace=%s" . | quote }}
{{- end }}
- {{ printf "--concurrency=%d" (int64 $o.concurrency) | quote }}
- {{ printf "--default-refresh-interval=%s" $o.defaultRefreshInterval | quote }}
- {{ printf "--store-refresh-interval=%s" $o.storeRefreshInterval | quote }}
- {{ printf "--log-format=%s" $o.logFormat | quote }}
- {{ printf "--metrics-addr=%s" (include "stagesync.metricsAddr" .) | quote }}
{{- if $o.allowAmbientCredentials }}
- "--allow-ambient-credentials"
{{- end }}
{{- with $o.allowedRoles }}
- {{ printf "--allowed-roles=%s" . | quote }}
{{- end }}
{{- with $o.stsEndpoint }}
- {{ printf "--sts-endpoint=%s" . | quote }}
{{- end }}
{{- with $o.controllerClass }}
- {{ printf "--controller-class=%s" . | quote }}
{{- end }}
- {{ printf "--aws-timeout=%s" $o.awsTimeout | quote }}
- {{ printf "--aws-max-attempts=%d" (int64 $o.awsMaxAttempts) | quote }}
- {{ printf "--rotation-stuck-after=%s" $o.rotationStuckAfter | quote }}
- {{ printf "--list-confirm-interval=%s" $o.listConfirmInterval | quote }}
- {{ printf "--resync-floor=%s" $o.resyncFloor | quote }}
- {{ printf "--value-cache-bytes=%d" (int64 $o.valueCacheBytes) | quote }}
- {{ printf "--restarts=%t" $r.enabled | quote }}
- {{ printf "--restart-debounce=%s" $r.debounce | quote }}
- {{ printf "--max-rollouts-per-minute=%d" (int64 $r.maxRolloutsPerMinute) | quote }}
- {{ printf "--rollout-deadline=%s" $r.rolloutDeadline | quote }}
{{- if $r.reloaderCompatible }}
- "--reloader-compatible"
{{- end }}
{{- with $r.reloaderSecretSelector }}
- {{ printf "--reloader-secret-selector=%s" . | quote }}
{{- end }}
- {{ printf "--leader-elect=%t" .Values.leaderElection.enabled | quote }}
- {{ printf "--leader-elect-lease-name=%s" .Values.leaderElection.leaseName | quote }}
- {{ printf "--leader-elect-lease-duration=%s" .Values.leaderElection.leaseDuration | quote }}
{{- range .Values.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end }}

{{/* Combinations of values the schema cannot express; included by the Deployment. */}}
{{- define "stagesync.validate" -}}
{{- if and (gt (int64 .Values.replicaCount) 1) (not .Values.leaderElection.enabled) }}
{{- fail (printf "replicaCount is %d but leaderElection.enabled is false: replicas would all run the controllers and write beside each other; enable leader election or use one replica" (int64 .Values.replicaCount)) }}
{{- end }}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.service.enabled) }}
{{- fail "metrics.serviceMonitor.enabled needs metrics.service.enabled: the ServiceMonitor scrapes the metrics Service" }}
{{- end }}
{{- end }}
