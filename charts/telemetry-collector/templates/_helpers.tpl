{{/*
Name of the chart, or nameOverride.
*/}}
{{- define "telemetry-collector.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Full name of the objects: fullnameOverride, else the release name when it
contains the chart name, else "<release>-<chart>".
*/}}
{{- define "telemetry-collector.fullname" -}}
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

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "telemetry-collector.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Labels of every object.
*/}}
{{- define "telemetry-collector.labels" -}}
helm.sh/chart: {{ include "telemetry-collector.chart" . }}
{{ include "telemetry-collector.selectorLabels" . }}
app.kubernetes.io/version: {{ include "telemetry-collector.imageTag" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/*
Labels that select the pods; they never change across upgrades.
*/}}
{{- define "telemetry-collector.selectorLabels" -}}
app.kubernetes.io/name: {{ include "telemetry-collector.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/*
Image tag: image.tag, else the chart's appVersion.
*/}}
{{- define "telemetry-collector.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag -}}
{{- end -}}

{{/*
Whether the reports are kept in SQLite.
*/}}
{{- define "telemetry-collector.sqlite" -}}
{{- if eq .Values.database.type "sqlite" -}}true{{- end -}}
{{- end -}}

{{/*
Replicas of the Deployment: one with SQLite, else .Values.replicas.
*/}}
{{- define "telemetry-collector.replicas" -}}
{{- if include "telemetry-collector.sqlite" . -}}
{{- min 1 (int .Values.replicas) -}}
{{- else -}}
{{- int .Values.replicas -}}
{{- end -}}
{{- end -}}

{{/*
Name of the PersistentVolumeClaim of the SQLite file.
*/}}
{{- define "telemetry-collector.claimName" -}}
{{- default (printf "%s-data" (include "telemetry-collector.fullname" .)) .Values.database.sqlite.persistence.existingClaim -}}
{{- end -}}

{{/*
Directories of the mounted Secrets and of the SQLite file.
*/}}
{{- define "telemetry-collector.keysDir" -}}
/etc/telemetry-collector/signing-keys
{{- end -}}
{{- define "telemetry-collector.tokensDir" -}}
/etc/telemetry-collector/tokens
{{- end -}}
{{- define "telemetry-collector.dataDir" -}}
/var/lib/telemetry-collector
{{- end -}}

{{/*
Checks of combinations the schema cannot express.
*/}}
{{- define "telemetry-collector.validate" -}}
{{- if not .Values.signingKeys.existingSecret -}}
{{- fail "signingKeys.existingSecret is required: the Secret with the signing keys, one per line, under the key signingKeys.key" -}}
{{- end -}}
{{- if and (eq .Values.database.type "postgres") (not .Values.database.postgres.existingSecret) -}}
{{- fail "database.type=postgres needs database.postgres.existingSecret, the Secret with the PostgreSQL URL under the key database.postgres.key" -}}
{{- end -}}
{{- end -}}
