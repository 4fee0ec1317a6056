{{/*
Name of the chart, or nameOverride.
*/}}
{{- define "telemetry-manager.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Full name of the objects: fullnameOverride, else the release name when it
contains the chart name, else "<release>-<chart>".
*/}}
{{- define "telemetry-manager.fullname" -}}
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
{{- define "telemetry-manager.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Labels of every object.
*/}}
{{- define "telemetry-manager.labels" -}}
helm.sh/chart: {{ include "telemetry-manager.chart" . }}
{{ include "telemetry-manager.selectorLabels" . }}
app.kubernetes.io/version: {{ include "telemetry-manager.imageTag" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/*
Labels that select the pods; they never change across upgrades.
*/}}
{{- define "telemetry-manager.selectorLabels" -}}
app.kubernetes.io/name: {{ include "telemetry-manager.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/*
Name of the ServiceAccount.
*/}}
{{- define "telemetry-manager.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "telemetry-manager.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
Image tag: image.tag, else the chart's appVersion.
*/}}
{{- define "telemetry-manager.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag -}}
{{- end -}}

{{/*
Name of the runtime-switch ConfigMap.
*/}}
{{- define "telemetry-manager.configMapName" -}}
{{- default (include "telemetry-manager.fullname" .) .Values.configMap.name -}}
{{- end -}}

{{/*
Name of the leader-election Lease.
*/}}
{{- define "telemetry-manager.leaseName" -}}
{{- default (include "telemetry-manager.fullname" .) .Values.leaderElection.id -}}
{{- end -}}

{{/*
Comma-separated names of the enabled exporters, in the order of the
exporter table of pkg/exporters.
*/}}
{{- define "telemetry-manager.exporters" -}}
{{- $names := list -}}
{{- if .Values.exporters.secret.enabled -}}
{{- $names = append $names "secret" -}}
{{- end -}}
{{- if .Values.exporters.http.enabled -}}
{{- $names = append $names "http" -}}
{{- end -}}
{{- if .Values.exporters.scc.enabled -}}
{{- $names = append $names "scc" -}}
{{- end -}}
{{- join "," $names -}}
{{- end -}}

{{/*
Whether the manager reads management.cattle.io/v3 (rancher or auto mode).
*/}}
{{- define "telemetry-manager.readsRancher" -}}
{{- if has .Values.mode (list "auto" "rancher") -}}true{{- end -}}
{{- end -}}

{{/*
Whether the manager reads core nodes (kubernetes or auto mode).
*/}}
{{- define "telemetry-manager.readsKubernetes" -}}
{{- if has .Values.mode (list "auto" "kubernetes") -}}true{{- end -}}
{{- end -}}

{{/*
Checks of combinations the schema cannot express.
*/}}
{{- define "telemetry-manager.validate" -}}
{{- if and (gt (int .Values.replicas) 1) (not .Values.leaderElection.enabled) -}}
{{- fail "replicas above 1 need leaderElection.enabled=true, or every replica would export" -}}
{{- end -}}
{{- with .Values.exporters.http -}}
{{- if .enabled -}}
{{- if not .url -}}
{{- fail "exporters.http.enabled=true needs exporters.http.url, the collector URL" -}}
{{- end -}}
{{- if not .secretName -}}
{{- fail "exporters.http.enabled=true needs exporters.http.secretName, the Secret with signingKey (and token)" -}}
{{- end -}}
{{- end -}}
{{- if and .caFile .caConfigMap -}}
{{- fail "exporters.http.caFile and exporters.http.caConfigMap exclude each other" -}}
{{- end -}}
{{- end -}}
{{- with .Values.exporters.scc -}}
{{- if and .caFile .caConfigMap -}}
{{- fail "exporters.scc.caFile and exporters.scc.caConfigMap exclude each other" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The namespace of the secret exporter's Secret when it is not the release
namespace, else empty.
*/}}
{{- define "telemetry-manager.secretTargetNamespace" -}}
{{- with .Values.exporters.secret.namespace -}}
{{- if ne . $.Release.Namespace -}}{{ . }}{{- end -}}
{{- end -}}
{{- end }}


{{/*
Directory the http exporter's CA ConfigMap is mounted at.
*/}}
{{- define "telemetry-manager.httpCADir" -}}
/etc/telemetry-manager/http-ca
{{- end }}


{{/*
Directories the scc exporter's CA and offline public key are mounted at.
*/}}
{{- define "telemetry-manager.sccCADir" -}}
/etc/telemetry-manager/scc-ca
{{- end }}
{{- define "telemetry-manager.sccKeyDir" -}}
/etc/telemetry-manager/scc-key
{{- end }}
