using System.Text.Json.Serialization;

namespace M3ter.Auth.Internal;

/// <summary>The error bodies m3ter and its gateways send: OAuth's <c>error</c>/<c>error_description</c> or <c>message</c>.</summary>
internal sealed class ErrorResponse
{
    [JsonPropertyName("error")]
    public string? Error { get; set; }

    [JsonPropertyName("error_description")]
    public string? ErrorDescription { get; set; }

    [JsonPropertyName("message")]
    public string? Message { get; set; }
}
