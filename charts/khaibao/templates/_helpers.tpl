{{- define "khaibao.labels" -}}
app.kubernetes.io/name: khaibao
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}
{{- define "khaibao.selector" -}}
app.kubernetes.io/name: khaibao
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}
{{- define "khaibao.fullname" -}}
{{- printf "%s-operator" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end }}
