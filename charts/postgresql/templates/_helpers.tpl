{{/* Chart name, overridable. */}}
{{- define "postgresql.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Full name of the release's resources. A release whose name already contains the
chart name (e.g. "postgresql") keeps it, so the Service is just "postgresql".
*/}}
{{- define "postgresql.fullname" -}}
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

{{- define "postgresql.headlessName" -}}
{{- printf "%s-headless" (include "postgresql.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "postgresql.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "postgresql.selectorLabels" -}}
app.kubernetes.io/name: {{ include "postgresql.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "postgresql.labels" -}}
helm.sh/chart: {{ include "postgresql.chart" . }}
{{ include "postgresql.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | quote }}
app.kubernetes.io/component: database
app.kubernetes.io/part-of: mlops-stack
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* "registry/repository:tag", or "repository:tag" when registry is empty. */}}
{{- define "postgresql.imageRef" -}}
{{- if .registry -}}
{{- printf "%s/%s:%s" .registry .repository (toString .tag) -}}
{{- else -}}
{{- printf "%s:%s" .repository (toString .tag) -}}
{{- end -}}
{{- end -}}

{{- define "postgresql.image" -}}
{{- include "postgresql.imageRef" .Values.image -}}
{{- end -}}

{{/* Path of a server binary: bare name when binDir is empty (found on the PATH). */}}
{{- define "postgresql.bin" -}}
{{- $dir := .root.Values.image.binDir | trimSuffix "/" -}}
{{- if $dir -}}{{ printf "%s/%s" $dir .name }}{{- else -}}{{ .name }}{{- end -}}
{{- end -}}

{{- define "postgresql.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "postgresql.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "postgresql.secretName" -}}
{{- default (printf "%s-auth" (include "postgresql.fullname" .)) .Values.auth.existingSecret -}}
{{- end -}}

{{- define "postgresql.metrics.username" -}}
{{- default .Values.auth.username .Values.metrics.auth.username -}}
{{- end -}}

{{- define "postgresql.metrics.secretName" -}}
{{- default (include "postgresql.secretName" .) .Values.metrics.auth.existingSecret -}}
{{- end -}}

{{- define "postgresql.metrics.passwordKey" -}}
{{- default .Values.auth.passwordKey .Values.metrics.auth.passwordKey -}}
{{- end -}}

{{- define "postgresql.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ if kindIs "string" . }}{{ . }}{{ else }}{{ .name }}{{ end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* storageClassName line: "-" means none (static provisioning), empty means the default class. */}}
{{- define "postgresql.storageClass" -}}
{{- if .Values.persistence.storageClass -}}
{{- if eq "-" .Values.persistence.storageClass }}
storageClassName: ""
{{- else }}
storageClassName: {{ .Values.persistence.storageClass | quote }}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Where the TLS Secret is mounted (tls.crt, tls.key, ca.crt). */}}
{{- define "postgresql.tlsDir" -}}
/etc/postgresql-tls
{{- end -}}

{{/* The TLS Secret's name; the chart makes no certificate, so one must be named. */}}
{{- define "postgresql.tlsSecretName" -}}
{{- required "tls.existingSecret is required with tls.enabled: name a kubernetes.io/tls Secret with tls.crt, tls.key and ca.crt" .Values.tls.existingSecret -}}
{{- end -}}

{{/* The TLS Secret's mount, for every container that reads it. */}}
{{- define "postgresql.tlsMount" -}}
- name: tls
  mountPath: {{ include "postgresql.tlsDir" . }}
  readOnly: true
{{- end -}}
