{{/*
Names, labels and small values shared by the templates.
*/}}

{{- define "flowtape.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The release's full name; the services are "<fullname>-<service>", so it is kept short enough for those.
*/}}
{{- define "flowtape.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "flowtape.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "flowtape.selectorLabels" -}}
app.kubernetes.io/name: {{ include "flowtape.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "flowtape.labels" -}}
helm.sh/chart: {{ include "flowtape.chart" . }}
{{ include "flowtape.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: flowtape
{{- end }}

{{/*
Labels of one service's objects. Call with (dict "root" $ "component" "gateway").
*/}}
{{- define "flowtape.componentSelectorLabels" -}}
{{ include "flowtape.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "flowtape.componentLabels" -}}
{{ include "flowtape.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "flowtape.componentName" -}}
{{- printf "%s-%s" (include "flowtape.fullname" .root) .component }}
{{- end }}

{{- define "flowtape.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag | toString) }}
{{- end }}

{{- define "flowtape.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "flowtape.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "flowtape.secretName" -}}
{{- default (printf "%s-secrets" (include "flowtape.fullname" .)) .Values.secrets.existingSecret }}
{{- end }}

{{- define "flowtape.configName" -}}
{{- printf "%s-config" (include "flowtape.fullname" .) }}
{{- end }}
