{{/* The release's name prefix of every object: at most 40 characters,
so that the invokers' StatefulSet name (<fullname>-invoker) and its
controller-revision-hash label (<name>-<10 characters>) stay within
Kubernetes' 63. */}}
{{- define "whirl.fullname" -}}
{{- printf "%s-whirl" .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{/* The image; a numeric tag (tag: 2) is written as a number. Quote tags
like "1.10": YAML reads 1.10 as the number 1.1. */}}
{{- define "whirl.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if kindIs "float64" $tag }}{{ $tag = int64 $tag | toString }}{{ end -}}
{{- printf "%s:%s" .Values.image.repository (toString $tag) -}}
{{- end -}}

{{/* A checksum of everything the pods read from values: changing any of it
(apiHost, whisk, nats, store, metrics, the invoker's settings) rolls the
pods. */}}
{{- define "whirl.configChecksum" -}}
{{- list .Values.apiHost .Values.whisk .Values.nats .Values.store .Values.metrics .Values.invoker | toYaml | sha256sum -}}
{{- end -}}

{{/* Fails on values the chart cannot deploy. */}}
{{- define "whirl.validate" -}}
{{- if lt (int .Values.invoker.replicas) 1 -}}
{{- fail "invoker.replicas must be at least 1: controllers without invokers run no action" -}}
{{- end -}}
{{- end -}}

{{/* Whether the action pods live in the release's namespace. */}}
{{- define "whirl.actionsInRelease" -}}
{{- if eq (include "whirl.actionNamespace" .) .Release.Namespace }}true{{ end -}}
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
{{- if and .Values.nats.auth.existingSecret .Values.nats.auth.urlKey }}
- name: WHIRL_BUS
  valueFrom:
    secretKeyRef:
      name: {{ .Values.nats.auth.existingSecret }}
      key: {{ .Values.nats.auth.urlKey }}
{{- else }}
- name: WHIRL_BUS
  value: {{ required "nats.url is required" .Values.nats.url | quote }}
{{- end }}
- name: WHIRL_BUS_PREFIX
  value: {{ .Values.nats.prefix | quote }}
{{- if include "whirl.natsCredentials" . }}
- name: WHIRL_BUS_CREDENTIALS
  value: /etc/whirl/nats/credentials
{{- end }}
{{- if .Values.metrics.existingSecret }}
- name: WHIRL_METRICS_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ .Values.metrics.existingSecret }}
      key: {{ .Values.metrics.secretKey }}
{{- end }}
{{- end -}}

{{/* Non-empty when NATS credentials come from a file in the Secret. */}}
{{- define "whirl.natsCredentials" -}}
{{- if and .Values.nats.auth.existingSecret .Values.nats.auth.credentialsKey }}true{{ end -}}
{{- end -}}

{{/* The volume mounts of both roles. */}}
{{- define "whirl.volumeMounts" -}}
- name: config
  mountPath: /etc/whirl
{{- if include "whirl.natsCredentials" . }}
- name: nats-credentials
  mountPath: /etc/whirl/nats
  readOnly: true
{{- end }}
{{- end -}}

{{/* The volumes of both roles. */}}
{{- define "whirl.volumes" -}}
- name: config
  configMap:
    name: {{ include "whirl.fullname" . }}-config
{{- if include "whirl.natsCredentials" . }}
- name: nats-credentials
  secret:
    secretName: {{ .Values.nats.auth.existingSecret }}
    defaultMode: 0440
    items:
      - key: {{ .Values.nats.auth.credentialsKey }}
        path: credentials
{{- end }}
{{- end -}}
