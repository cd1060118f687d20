package switchboard

// Attribute keys used in structured logs, so every component spells them alike.
const (
	LogKeyRequestID   = "request_id"
	LogKeyInferenceID = "inference_id"
	LogKeyTenant      = "tenant"
	LogKeyProvider    = "provider"
	LogKeyModel       = "model"
	LogKeyRoute       = "route"
	LogKeyPlugin      = "plugin"
	LogKeyErr         = "err"
	LogKeyStatus      = "status"
)
