// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title Reverter
/// @notice Functions that revert in the common ways: a reason string (Error(string)), a custom
///         error, and a panic (Panic(uint256)). Each writes storage first, which the revert undoes.
contract Reverter {
    uint256 public touched;

    error Custom(uint256 code, address sender);

    /// Reverts with Error(reason).
    function fail(string calldata reason) external {
        touched += 1;
        revert(reason);
    }

    /// Reverts with the custom error Custom(code, msg.sender).
    function failCustom(uint256 code) external {
        touched += 1;
        revert Custom(code, msg.sender);
    }

    /// Reverts with Panic(0x01) (assert failure).
    function failPanic() external {
        touched += 1;
        assert(touched == 0);
    }

    /// View variants, for eth_call and eth_estimateGas error tests.
    function check(bool ok) external pure returns (uint256) {
        require(ok, "check failed");
        return 1;
    }

    function checkCustom(uint256 code) external view returns (uint256) {
        if (code != 0) revert Custom(code, msg.sender);
        return 0;
    }

    /// Succeeds; lets tests contrast a success with the failures above.
    function succeed() external returns (uint256) {
        touched += 1;
        return touched;
    }
}
