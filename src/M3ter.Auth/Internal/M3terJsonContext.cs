using System.Text.Json.Serialization;

namespace M3ter.Auth.Internal;

/// <summary>Source-generated (reflection-free, trimming-safe) serialization for the token endpoint's bodies.</summary>
[JsonSourceGenerationOptions(GenerationMode = JsonSourceGenerationMode.Metadata)]
[JsonSerializable(typeof(TokenResponse))]
[JsonSerializable(typeof(ErrorResponse))]
internal sealed partial class M3terJsonContext : JsonSerializerContext
{
}
