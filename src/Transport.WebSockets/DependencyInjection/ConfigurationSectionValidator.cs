using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Transport.WebSockets.DependencyInjection;

/// <summary>
/// <c>BindConfiguration(sectionPath)</c>'s check that the section exists: a mistyped path binds nothing,
/// and the error would otherwise be a missing <c>Uri</c> rather than the path.
/// </summary>
internal sealed class ConfigurationSectionValidator(string name, string sectionPath, IConfiguration configuration) : IValidateOptions<TransportOptions>
{
    public ValidateOptionsResult Validate(string? optionsName, TransportOptions options) =>
        !string.Equals(optionsName, name, StringComparison.Ordinal) ? ValidateOptionsResult.Skip
        : configuration.GetSection(sectionPath).Exists() ? ValidateOptionsResult.Success
        : ValidateOptionsResult.Fail($"WebSocket transport '{name}': the configuration section '{sectionPath}' does not exist (BindConfiguration).");
}
