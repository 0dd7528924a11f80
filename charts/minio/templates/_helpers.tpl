{{/* Chart name, overridable. */}}
{{- define "minio.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Full name of the release's resources. A release whose name already contains the
chart name (e.g. "minio") keeps it, so the Service is just "minio".
*/}}
{{- define "minio.fullname" -}}
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
{{- end -}}

{{- define "minio.headlessName" -}}
{{- printf "%s-headless" (include "minio.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "minio.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "minio.selectorLabels" -}}
app.kubernetes.io/name: {{ include "minio.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "minio.labels" -}}
helm.sh/chart: {{ include "minio.chart" . }}
{{ include "minio.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | quote }}
app.kubernetes.io/component: object-storage
app.kubernetes.io/part-of: mlops-stack
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* "registry/repository:tag", or "repository:tag" when registry is empty. */}}
{{- define "minio.image" -}}
{{- $i := .Values.image -}}
{{- if $i.registry -}}
{{- printf "%s/%s:%s" $i.registry $i.repository (toString $i.tag) -}}
{{- else -}}
{{- printf "%s:%s" $i.repository (toString $i.tag) -}}
{{- end -}}
{{- end -}}

{{- define "minio.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "minio.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "minio.secretName" -}}
{{- default (printf "%s-auth" (include "minio.fullname" .)) .Values.auth.existingSecret -}}
{{- end -}}

{{/* Whether other pods may reach the console. */}}
{{- define "minio.consoleExposed" -}}
{{- if and .Values.console.enabled (or .Values.console.exposed .Values.console.ingress.enabled) -}}true{{- end -}}
{{- end -}}

{{/* Mount paths of one server's drives: /data, or /data0 ... /dataN-1. */}}
{{- define "minio.drivePaths" -}}
{{- $paths := list -}}
{{- if eq (int .Values.drivesPerNode) 1 -}}
{{- $paths = list "/data" -}}
{{- else -}}
{{- range $i := until (int .Values.drivesPerNode) -}}
{{- $paths = append $paths (printf "/data%d" $i) -}}
{{- end -}}
{{- end -}}
{{- toJson $paths -}}
{{- end -}}

{{/* Volume name of drive i. */}}
{{- define "minio.driveVolume" -}}
{{- if eq (int .root.Values.drivesPerNode) 1 -}}data{{- else -}}{{ printf "data-%d" .index }}{{- end -}}
{{- end -}}

{{/*
The server's volume argument in MinIO's ellipsis notation. Distributed servers
address each other through the headless Service's stable pod names.
*/}}
{{- define "minio.volumes" -}}
{{- $drives := "/data" -}}
{{- if gt (int .Values.drivesPerNode) 1 -}}
{{- $drives = printf "/data{0...%d}" (sub (int .Values.drivesPerNode) 1) -}}
{{- end -}}
{{- if eq .Values.mode "distributed" -}}
{{- printf "%s://%s-{0...%d}.%s.%s.svc.%s%s" (include "minio.scheme" .) (include "minio.fullname" .) (sub (int .Values.replicaCount) 1) (include "minio.headlessName" .) .Release.Namespace .Values.clusterDomain $drives -}}
{{- else -}}
{{- $drives -}}
{{- end -}}
{{- end -}}

{{/* URL scheme of the API, the console and the peers. */}}
{{- define "minio.scheme" -}}
{{- ternary "https" "http" .Values.tls.enabled -}}
{{- end -}}

{{/* The TLS Secret; rendering fails when TLS is on without one. */}}
{{- define "minio.tlsSecretName" -}}
{{- required "tls.existingSecret is required with tls.enabled: name a kubernetes.io/tls Secret with tls.crt, tls.key and ca.crt" .Values.tls.existingSecret -}}
{{- end -}}

{{- define "minio.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ if kindIs "string" . }}{{ . }}{{ else }}{{ .name }}{{ end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* storageClassName line: "-" means none (static provisioning), empty means the default class. */}}
{{- define "minio.storageClass" -}}
{{- if .Values.persistence.storageClass -}}
{{- if eq "-" .Values.persistence.storageClass }}
storageClassName: ""
{{- else }}
storageClassName: {{ .Values.persistence.storageClass | quote }}
{{- end -}}
{{- end -}}
{{- end -}}
