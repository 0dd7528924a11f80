{{/* Chart name, overridable. */}}
{{- define "mlflow.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Full name of the release's resources. A release whose name already contains the
chart name (e.g. "mlflow") keeps it, so the Service is just "mlflow".
*/}}
{{- define "mlflow.fullname" -}}
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

{{- define "mlflow.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "mlflow.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mlflow.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels without a component; callers add theirs. */}}
{{- define "mlflow.commonLabels" -}}
helm.sh/chart: {{ include "mlflow.chart" . }}
{{ include "mlflow.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | quote }}
app.kubernetes.io/part-of: mlops-stack
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/*
The server's selector. The component keeps the gc CronJob's pods out of the
Service and the Deployment.
*/}}
{{- define "mlflow.serverSelectorLabels" -}}
{{ include "mlflow.selectorLabels" . }}
app.kubernetes.io/component: tracking-server
{{- end -}}

{{- define "mlflow.labels" -}}
{{ include "mlflow.commonLabels" . }}
app.kubernetes.io/component: tracking-server
{{- end -}}

{{/* "registry/repository:tag", or "repository:tag" when registry is empty. */}}
{{- define "mlflow.image" -}}
{{- $i := .Values.image -}}
{{- if $i.registry -}}
{{- printf "%s/%s:%s" $i.registry $i.repository (toString $i.tag) -}}
{{- else -}}
{{- printf "%s:%s" $i.repository (toString $i.tag) -}}
{{- end -}}
{{- end -}}

{{- define "mlflow.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "mlflow.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "mlflow.databaseSecretName" -}}
{{- default (printf "%s-database" (include "mlflow.fullname" .)) .Values.backendStore.existingSecret -}}
{{- end -}}

{{- define "mlflow.s3SecretName" -}}
{{- default (printf "%s-s3" (include "mlflow.fullname" .)) .Values.artifacts.s3.existingSecret -}}
{{- end -}}

{{- define "mlflow.authSecretName" -}}
{{- default (printf "%s-auth" (include "mlflow.fullname" .)) .Values.auth.existingSecret -}}
{{- end -}}

{{- define "mlflow.artifactsDestination" -}}
{{- $path := .Values.artifacts.path | trimAll "/" -}}
{{- if $path -}}
{{- printf "s3://%s/%s" .Values.artifacts.bucket $path -}}
{{- else -}}
{{- printf "s3://%s" .Values.artifacts.bucket -}}
{{- end -}}
{{- end -}}

{{/* In-cluster URL of the server (used by the gc job). */}}
{{- define "mlflow.internalUrl" -}}
{{- printf "http://%s.%s.svc.%s:%d" (include "mlflow.fullname" .) .Release.Namespace .Values.clusterDomain (int .Values.service.port) -}}
{{- end -}}

{{/*
Host headers the server accepts (MLflow 3 rejects others to stop DNS
rebinding): the Service's DNS names, loopback for port-forwarding, the
ingress host, whatever server.allowedHosts adds and, with
server.allowPrivateNetworkHosts, the private ranges. Each name is allowed with
any port. server.sh adds the pod's own IP (Prometheus scrapes pods by IP).
*/}}
{{- define "mlflow.allowedHosts" -}}
{{- $fullname := include "mlflow.fullname" . -}}
{{- $ns := .Release.Namespace -}}
{{- $names := list $fullname (printf "%s.%s" $fullname $ns) (printf "%s.%s.svc" $fullname $ns) (printf "%s.%s.svc.%s" $fullname $ns .Values.clusterDomain) "localhost" "127.0.0.1" -}}
{{- if and .Values.ingress.enabled .Values.ingress.host -}}
{{- $names = append $names .Values.ingress.host -}}
{{- end -}}
{{- $names = concat $names .Values.server.allowedHosts -}}
{{- $hosts := list -}}
{{- range $names -}}
{{- $hosts = append $hosts . -}}
{{- if not (contains "*" .) -}}
{{- $hosts = append $hosts (printf "%s:*" .) -}}
{{- end -}}
{{- end -}}
{{- if .Values.server.allowPrivateNetworkHosts -}}
{{- $hosts = concat $hosts (list "10.*" "192.168.*") -}}
{{- range $i := untilStep 16 32 1 -}}
{{- $hosts = append $hosts (printf "172.%d.*" $i) -}}
{{- end -}}
{{- end -}}
{{- $hosts | uniq | join "," -}}
{{- end -}}

{{- define "mlflow.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ if kindIs "string" . }}{{ . }}{{ else }}{{ .name }}{{ end }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
Environment shared by the migration, server and gc containers: where the
database is and the login to it, from the database Secret. scripts/backend-uri.sh
turns the parts into MLFLOW_BACKEND_STORE_URI.
*/}}
{{- define "mlflow.databaseEnv" -}}
{{- $b := .Values.backendStore -}}
{{- if not $b.uriKey }}
- name: MLFLOW_DB_HOST
  value: {{ $b.host | quote }}
- name: MLFLOW_DB_PORT
  value: {{ $b.port | quote }}
- name: MLFLOW_DB_NAME
  value: {{ $b.database | quote }}
- name: MLFLOW_DB_SSLMODE
  value: {{ $b.sslMode | quote }}
{{- if $b.tls.caConfigMap }}
- name: MLFLOW_DB_SSLROOTCERT
  value: /run/secrets/mlflow/tls/database-ca.crt
{{- end }}
{{- end }}
- name: HOME
  value: /tmp
{{- end -}}

{{/*
The credentials a container needs, as files under /run/secrets/mlflow
(backendUriPython reads them): database/{username,password} or database/uri,
s3/{access-key-id,secret-access-key} when "s3", auth/{admin-username,
admin-password} when "auth" and basic auth is on. Files, not environment
variables: a process's environment is in /proc/<pid>/environ and is inherited
by every process it starts. Readable by the pod's fsGroup only.
*/}}
{{- define "mlflow.credentialsVolume" -}}
{{- $root := .root -}}
{{- $b := $root.Values.backendStore -}}
- name: credentials
  projected:
    defaultMode: 0440
    sources:
      - secret:
          name: {{ include "mlflow.databaseSecretName" $root }}
          items:
            {{- if $b.uriKey }}
            - key: {{ $b.uriKey }}
              path: database/uri
            {{- else }}
            - key: {{ $b.usernameKey }}
              path: database/username
            - key: {{ $b.passwordKey }}
              path: database/password
            {{- end }}
      {{- with $b.tls.caConfigMap }}
      - configMap:
          name: {{ . }}
          items:
            - key: {{ $b.tls.caKey }}
              path: tls/database-ca.crt
      {{- end }}
      {{- if .s3 }}
      - secret:
          name: {{ include "mlflow.s3SecretName" $root }}
          items:
            - key: {{ $root.Values.artifacts.s3.accessKeyIdKey }}
              path: s3/access-key-id
            - key: {{ $root.Values.artifacts.s3.secretAccessKeyKey }}
              path: s3/secret-access-key
      {{- with $root.Values.artifacts.s3.caConfigMap }}
      - configMap:
          name: {{ . }}
          items:
            - key: {{ $root.Values.artifacts.s3.caKey }}
              path: tls/s3-ca.crt
      {{- end }}
      {{- end }}
      {{- if and .auth $root.Values.auth.enabled }}
      - secret:
          name: {{ include "mlflow.authSecretName" $root }}
          items:
            - key: {{ $root.Values.auth.adminUsernameKey }}
              path: auth/admin-username
            - key: {{ $root.Values.auth.adminPasswordKey }}
              path: auth/admin-password
      {{- end }}
{{- end -}}

{{- define "mlflow.credentialsMount" -}}
- name: credentials
  mountPath: /run/secrets/mlflow
  readOnly: true
{{- end -}}

{{- define "mlflow.metricsSecretName" -}}
{{- default (include "mlflow.authSecretName" .) .Values.metrics.serviceMonitor.basicAuth.existingSecret -}}
{{- end -}}

{{/*
TCP port of artifacts.s3.endpointUrl: the URL's own, else its scheme's (AWS S3,
with no endpoint, is HTTPS).
*/}}
{{- define "mlflow.s3Port" -}}
{{- $url := urlParse (default "https://s3.amazonaws.com" .Values.artifacts.s3.endpointUrl) -}}
{{- $hostPort := splitList ":" $url.host -}}
{{- if gt (len $hostPort) 1 -}}
{{- last $hostPort -}}
{{- else if eq $url.scheme "http" -}}
80
{{- else -}}
443
{{- end -}}
{{- end -}}
