{{/* The release's name prefix of every object. */}}
{{- define "whirl.fullname" -}}
{{- printf "%s-whirl" .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}

{{- define "whirl.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "whirl.labels" -}}
app.kubernetes.io/name: whirl
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{- define "whirl.actionNamespace" -}}
{{- default .Release.Namespace .Values.invoker.actionNamespace -}}
{{- end -}}

{{/* The invoker names the controllers balance over: the StatefulSet's pods. */}}
{{- define "whirl.invokers" -}}
{{- $name := include "whirl.fullname" . -}}
{{- range $i := until (int .Values.invoker.replicas) -}}
{{- if $i }},{{ end }}{{ $name }}-invoker-{{ $i }}
{{- end -}}
{{- end -}}

{{/* Environment shared by both roles. */}}
{{- define "whirl.env" -}}
- name: WHIRL_CONFIG
  value: /etc/whirl/whirl.yaml
- name: WHIRL_STORE
  valueFrom:
    secretKeyRef:
      name: {{ required "store.existingSecret is required" .Values.store.existingSecret }}
      key: {{ .Values.store.secretKey }}
- name: WHIRL_BUS
  value: {{ required "nats.url is required" .Values.nats.url | quote }}
- name: WHIRL_BUS_PREFIX
  value: {{ .Values.nats.prefix | quote }}
{{- if .Values.metrics.existingSecret }}
- name: WHIRL_METRICS_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ .Values.metrics.existingSecret }}
      key: {{ .Values.metrics.secretKey }}
{{- end }}
{{- end -}}
