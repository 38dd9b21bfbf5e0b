package server

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"

	"go.yaml.in/yaml/v3"
)

// openapiYAML is the API's OpenAPI 3 description, served as JSON.
//
//go:embed openapi.yaml
var openapiYAML []byte

// OpenAPIJSON returns the OpenAPI document as JSON.
func OpenAPIJSON() ([]byte, error) {
	var doc any
	if err := yaml.Unmarshal(openapiYAML, &doc); err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	return json.Marshal(doc)
}

var openapiJSON, openapiErr = OpenAPIJSON()

func (s *Server) openapi(c *call) error {
	if openapiErr != nil {
		return openapiErr
	}
	c.w.Header().Set("Content-Type", "application/json")
	c.w.WriteHeader(http.StatusOK)
	c.w.Write(openapiJSON)
	return nil
}
