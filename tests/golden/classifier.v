// cls_classifier: counts the readout spikes of each class over 8 cycles, argmax -> pred.
// Protocol: start high for one cycle (clears core state and counters); then cycles t = 0..7 with in_spikes = x[t];
// spikes count from t = 2; the edge ending t = 7 sets done and pred (argmax, ties to the lowest class).
`timescale 1ns / 1ps
`default_nettype none

module cls_classifier (
  input clk,
  input rst,
  input start,
  input [1:0] in_spikes,
  output [2:0] out_spikes,
  output reg [1:0] pred,
  output reg done
);
  localparam [2:0] LAST = 3'd7;  // STEPS = 8
  localparam [2:0] START = 3'd2;

  cls core (.clk(clk), .rst(rst | start), .in_spikes(in_spikes), .out_spikes(out_spikes));

  reg busy;
  reg [2:0] t;
  wire counting = busy && (t >= START);
  reg [3:0] count0;
  wire [3:0] inc0 = {{3{1'b0}}, out_spikes[0]};
  wire [3:0] next0 = counting ? count0 + inc0 : count0;
  reg [3:0] count1;
  wire [3:0] inc1 = {{3{1'b0}}, out_spikes[1]} + {{3{1'b0}}, out_spikes[2]};
  wire [3:0] next1 = counting ? count1 + inc1 : count1;
  reg [3:0] count2;
  wire [3:0] inc2 = 4'd0;
  wire [3:0] next2 = counting ? count2 + inc2 : count2;
  wire [3:0] best_v0 = next0;
  wire [1:0] best_i0 = 2'd0;
  wire take1 = next1 > best_v0;
  wire [3:0] best_v1 = take1 ? next1 : best_v0;
  wire [1:0] best_i1 = take1 ? 2'd1 : best_i0;
  wire take2 = next2 > best_v1;
  wire [3:0] best_v2 = take2 ? next2 : best_v1;
  wire [1:0] best_i2 = take2 ? 2'd2 : best_i1;

  always @(posedge clk) begin
    if (rst) begin
      busy <= 1'b0; done <= 1'b0; t <= 3'd0; pred <= 2'd0;
      count0 <= 4'd0;
      count1 <= 4'd0;
      count2 <= 4'd0;
    end else if (start) begin
      busy <= 1'b1; done <= 1'b0; t <= 3'd0;
      count0 <= 4'd0;
      count1 <= 4'd0;
      count2 <= 4'd0;
    end else if (busy) begin
      count0 <= next0;
      count1 <= next1;
      count2 <= next2;
      if (t == LAST) begin
        busy <= 1'b0; done <= 1'b1; pred <= best_i2;
      end else begin
        t <= t + 1'b1;
      end
    end
  end

  /* verilator lint_off UNUSED */
  wire unused_sink = &{1'b0, best_v2, 1'b0};
  /* verilator lint_on UNUSED */
endmodule

`default_nettype wire
